# Reference values for abkit.stats.two_sample and abkit.analysis.results, computed with R 4.2 (stats + sandwich).
# Regenerate with: Rscript tests/reference/stats_reference.R > tests/reference/stats_reference.csv
# The input data are generated here with a fixed seed and written beside the values
# (tests/reference/stats_reference_data.csv) so the Python tests read the same numbers.
suppressPackageStartupMessages(library(sandwich))
set.seed(20261124)
rows <- list()
add <- function(case, quantity, value) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, quantity = quantity,
                                          value = sprintf("%.15g", value))
}
# Two samples with unequal variances and sizes
a <- round(rnorm(40, 3.0, 1.0), 3)
b <- round(rnorm(65, 3.4, 2.0), 3)
w <- t.test(b, a, var.equal = FALSE)
add("welch", "statistic", w$statistic); add("welch", "df", w$parameter)
add("welch", "p_value", w$p.value); add("welch", "ci_low", w$conf.int[1])
add("welch", "ci_high", w$conf.int[2])
# Proportions 19/53 vs 13/47 (public case P2) and a small table for Fisher
p <- prop.test(c(13, 19), c(47, 53), correct = FALSE)
add("prop_p2", "p_value", p$p.value)
add("fisher_small", "p_value", fisher.test(matrix(c(7, 3, 2, 8), nrow = 2))$p.value)
# Mann-Whitney on CSAT-like ordinal values with ties (normal approximation, continuity correction)
csat_a <- sample(1:5, 60, replace = TRUE, prob = c(.1, .15, .25, .3, .2))
csat_b <- sample(1:5, 70, replace = TRUE, prob = c(.05, .1, .2, .35, .3))
add("mann_whitney", "p_value", suppressWarnings(wilcox.test(csat_b, csat_a, exact = FALSE,
                                                           correct = TRUE)$p.value))
# Holm and BH (public case M1)
pv <- c(0.005, 0.06, 0.007, 0.04, 0.01, 0.03)
for (k in seq_along(pv)) {
  add("holm", paste0("p", k), p.adjust(pv, "holm")[k])
  add("bh", paste0("p", k), p.adjust(pv, "BH")[k])
}
# Delta method for a per-dialog mean with users clustered = cluster-robust (HC0) variance of
# the intercept-only regression, times n / (n - 1)
users <- rep(1:30, times = sample(1:6, 30, replace = TRUE))
u_effect <- rnorm(30, 0, 1)[users]
y <- round(5 + u_effect + rnorm(length(users)), 3)
fit <- lm(y ~ 1)
v_cl <- vcovCL(fit, cluster = users, type = "HC0", cadjust = FALSE)[1, 1]
add("delta_ratio", "mean", mean(y))
add("delta_ratio", "variance_hc0", v_cl)
add("delta_ratio", "n_users", 30)
data <- rbind(
  data.frame(sample = "a", user = NA, value = a),
  data.frame(sample = "b", user = NA, value = b),
  data.frame(sample = "csat_a", user = NA, value = csat_a),
  data.frame(sample = "csat_b", user = NA, value = csat_b),
  data.frame(sample = "clustered", user = users, value = y)
)
write.csv(data, "tests/reference/stats_reference_data.csv", row.names = FALSE, quote = FALSE)
write.csv(do.call(rbind, rows), stdout(), row.names = FALSE, quote = FALSE)
