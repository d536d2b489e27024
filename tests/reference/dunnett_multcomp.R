# Reference values for Dunnett's many-to-one adjustment (abkit.stats.many_to_one and the A/B/n
# analysis), computed with R 4.2's multcomp (glht, mcp(arm = "Dunnett")), sandwich and mvtnorm.
# Regenerate with:
#   Rscript tests/reference/dunnett_multcomp.R > tests/reference/dunnett_multcomp.csv
# The dialog log is generated here with a fixed seed and written beside the values
# (tests/reference/dunnett_log.csv), so the Python tests analyse the same rows.
#
# Three arms of unequal size (control 260 users, ft-v1 190, ft-v2 150), 1-6 dialogs per user.
# Cases:
#   pooled   - per-user mean of tokens, one-way lm with a pooled variance: the textbook Dunnett
#              (multivariate t, df = N - 3), the design scipy.stats.dunnett also implements
#   welch    - per-user sum of tokens (the kit's user_mean kind): each arm's own variance
#              (sandwich HC2, which for group indicators is s_j^2 / n_j), multivariate t with the
#              smallest of the two Welch dfs (t.test's), as the kit does
#   ratio    - csat per dialog (the kit's ratio kind): each arm's ratio sum(y)/sum(x) with its
#              delta-method variance written out here (Deng, Knoblich & Lu 2018), passed to
#              glht as a parm object; normal (df = 0)
suppressPackageStartupMessages({
  library(multcomp)
  library(sandwich)
})
set.seed(20261207)
arms <- c("control", "ft-v1", "ft-v2")
sizes <- c(260, 190, 150)
effect_tokens <- c(0, 25, -10)
effect_csat <- c(0, 0.25, 0.05)
users <- data.frame(
  user_id = sprintf("u%04d-%s", seq_len(sum(sizes)), substr(as.character(runif(sum(sizes))), 3, 8)),
  arm = rep(arms, sizes),
  stringsAsFactors = FALSE
)
users$dialogs <- sample(1:6, nrow(users), replace = TRUE)
rows <- list()
for (i in seq_len(nrow(users))) {
  k <- match(users$arm[i], arms)
  n <- users$dialogs[i]
  base <- rnorm(1, 0, 60)  # a user's own level: dialogs of one user are correlated
  tokens <- pmax(1, round(300 + effect_tokens[k] + base + rnorm(n, 0, 80 * (1 + 0.5 * (k - 1)))))
  csat <- pmin(5, pmax(1, round(3.4 + effect_csat[k] + base / 120 + rnorm(n, 0, 1))))
  day <- sample(0:6, n, replace = TRUE)
  rows[[i]] <- data.frame(
    user_id = users$user_id[i],
    dialog_id = sprintf("%s-d%d", users$user_id[i], seq_len(n)),
    timestamp = sprintf("2026-03-%02dT%02d:%02d:00Z", 2 + day, sample(8:20, n, TRUE),
                        sample(0:59, n, TRUE)),
    variant = users$arm[i],
    tokens = tokens,
    csat = csat,
    stringsAsFactors = FALSE
  )
}
log <- do.call(rbind, rows)
write.csv(log, "tests/reference/dunnett_log.csv", row.names = FALSE, quote = TRUE)

out <- list()
add <- function(case, candidate, quantity, value) {
  out[[length(out) + 1]] <<- data.frame(case = case, candidate = candidate, quantity = quantity,
                                        value = sprintf("%.15g", value))
}
precise <- GenzBretz(maxpts = 2e6, abseps = 1e-7, releps = 0)
report <- function(case, g) {
  s <- summary(g, test = adjusted("single-step", algorithm = precise))
  ci <- confint(g, calpha = adjusted_calpha(algorithm = precise))
  for (j in 2:3) {
    add(case, arms[j], "estimate", s$test$coefficients[j - 1])
    add(case, arms[j], "se", s$test$sigma[j - 1])
    add(case, arms[j], "p_adjusted", s$test$pvalues[j - 1])
    add(case, arms[j], "ci_low", ci$confint[j - 1, "lwr"])
    add(case, arms[j], "ci_high", ci$confint[j - 1, "upr"])
  }
  add(case, "", "critical", attr(ci$confint, "calpha"))
}

per_user <- aggregate(cbind(tokens, csat, one = 1) ~ user_id + variant, data = log, FUN = sum)
per_user$arm <- factor(per_user$variant, levels = arms)

# pooled: per-user mean tokens, one-way ANOVA, the classic Dunnett
per_user$mean_tokens <- per_user$tokens / per_user$one
fit <- lm(mean_tokens ~ arm, data = per_user)
report("pooled", glht(fit, linfct = mcp(arm = "Dunnett")))
add("pooled", "", "df", fit$df.residual)
add("pooled", "", "sigma", summary(fit)$sigma)

# welch: per-user token sums, each arm's variance, the smaller Welch df
fit_sum <- lm(tokens ~ arm, data = per_user)
welch_df <- sapply(2:3, function(j) t.test(per_user$tokens[per_user$arm == arms[j]],
                                           per_user$tokens[per_user$arm == "control"])$parameter)
report("welch", glht(fit_sum, linfct = mcp(arm = "Dunnett"),
                     vcov. = function(m) vcovHC(m, type = "HC2"), df = floor(min(welch_df))))
add("welch", "", "df", floor(min(welch_df)))

# ratio: csat per dialog, delta method per arm, normal
ratio <- sapply(arms, function(a) {
  u <- per_user[per_user$arm == a, ]
  y <- u$csat; x <- u$one; n <- nrow(u)
  r <- sum(y) / sum(x)
  v <- (var(y) - 2 * r * cov(x, y) + r^2 * var(x)) / (n * mean(x)^2)
  c(r, v)
})
contrast <- rbind("ft-v1 - control" = c(-1, 1, 0), "ft-v2 - control" = c(-1, 0, 1))
p <- parm(coef = setNames(ratio[1, ], arms), vcov = diag(ratio[2, ]), df = 0)
report("ratio", glht(p, linfct = contrast))
add("ratio", "", "df", 0)

write.csv(do.call(rbind, out), stdout(), row.names = FALSE, quote = FALSE)
