# Reference p-values for the seed's case study, recomputed from the stated n with base R.
# Regenerate with: Rscript tests/reference/casestudy_reference.R > tests/reference/casestudy_reference.csv
# Counts: round(rate * n): completion 0.713 * 6200 = 4421, 0.789 * 1550 = 1223;
# escalation 0.287 * 6200 = 1779, 0.211 * 1550 = 327.
rows <- list()
add <- function(case, value) rows[[length(rows) + 1]] <<- data.frame(case = case, value = sprintf("%.15g", value))
add("task_completion", prop.test(c(1223, 4421), c(1550, 6200), correct = FALSE)$p.value)
add("escalation_rate", prop.test(c(327, 1779), c(1550, 6200), correct = FALSE)$p.value)
# Welch t from summary statistics: CSAT 3.8 vs 4.1 with an assumed SD of 1.0 in both arms
welch_p <- function(m1, m2, s, n1, n2) {
  v1 <- s^2 / n1; v2 <- s^2 / n2
  t <- (m2 - m1) / sqrt(v1 + v2)
  df <- (v1 + v2)^2 / (v1^2 / (n1 - 1) + v2^2 / (n2 - 1))
  2 * pt(-abs(t), df)
}
add("csat_sd1", welch_p(3.8, 4.1, 1.0, 6200, 1550))
add("turns_sd2", welch_p(3.2, 2.9, 2.0, 6200, 1550))
write.csv(do.call(rbind, rows), stdout(), row.names = FALSE, quote = FALSE)
