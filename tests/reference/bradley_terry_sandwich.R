# Bradley-Terry strengths and their prompt-clustered sandwich covariance, for
# tests/judging/test_bradley_terry.py. Run from the kit's root:
#   Rscript tests/reference/bradley_terry_sandwich.R
# R 4.2 with sandwich (Debian: r-base-core, r-cran-sandwich). Output:
# tests/reference/bt_sandwich_reference.csv, one row per system (sorted by name): the
# maximum-likelihood strength centred to mean zero, its sandwich standard error, and the
# covariance row (columns cov_<system>).
#
# The model is a binomial GLM without intercept on the +1/-1 design of the two systems, a
# tie entering as y = 0.5 (half a win; R warns about non-integer successes, the estimating
# equations are those of the kit). The first system is the reference (strength 0); the
# centred strengths are C %*% beta with C = (I - J/n)[, -1], their covariance C V C'.
# V = vcovCL(type = "HC0", cadjust = TRUE): the clustered meat with the G/(G - 1) factor.
suppressPackageStartupMessages(library(sandwich))

data <- read.csv("tests/reference/bt_clustered_data.csv", stringsAsFactors = FALSE)
systems <- sort(unique(c(data$system_a, data$system_b)))
n <- length(systems)
x <- matrix(0, nrow(data), n, dimnames = list(NULL, systems))
x[cbind(seq_len(nrow(data)), match(data$system_a, systems))] <- 1
x[cbind(seq_len(nrow(data)), match(data$system_b, systems))] <- -1
y <- ifelse(data$winner == "a", 1, ifelse(data$winner == "b", 0, 0.5))
design <- x[, -1, drop = FALSE]
fit <- suppressWarnings(glm(y ~ design - 1, family = binomial(),
                            control = glm.control(epsilon = 1e-14, maxit = 100)))
v <- vcovCL(fit, cluster = data$prompt_id, type = "HC0", cadjust = TRUE)
centre <- (diag(n) - matrix(1 / n, n, n))[, -1, drop = FALSE]
theta <- as.vector(centre %*% coef(fit))
cov_theta <- centre %*% v %*% t(centre)
out <- data.frame(system = systems, strength = theta, se = sqrt(diag(cov_theta)))
for (k in seq_len(n)) out[[paste0("cov_", systems[k])]] <- cov_theta[, k]
write.csv(out, "tests/reference/bt_sandwich_reference.csv", row.names = FALSE)
print(out[, 1:3], digits = 10)
