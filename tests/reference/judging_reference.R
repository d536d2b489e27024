# McNemar's test and the exact sign test for abkit.judging.pairwise, from base R (stats).
# Regenerate with: Rscript tests/reference/judging_reference.R > tests/reference/judging_reference_r.csv
# Paired 2x2 tables of two systems on the same items: both right, only A, only B, both wrong.
rows <- list()
add <- function(case, value) rows[[length(rows) + 1]] <<- data.frame(case = case, value = sprintf("%.15g", value))
tables <- list(
  small = c(both = 40, a_only = 12, b_only = 4, neither = 14),
  harness_like = c(both = 150, a_only = 25, b_only = 9, neither = 36),
  balanced = c(both = 300, a_only = 30, b_only = 31, neither = 80),
  lopsided = c(both = 5, a_only = 7, b_only = 0, neither = 3)
)
for (name in names(tables)) {
  t <- tables[[name]]
  m <- matrix(c(t[["both"]], t[["b_only"]], t[["a_only"]], t[["neither"]]), nrow = 2)
  add(paste0("mcnemar_corrected_", name), mcnemar.test(m, correct = TRUE)$p.value)
  add(paste0("mcnemar_plain_", name), mcnemar.test(m, correct = FALSE)$p.value)
  add(paste0("sign_", name), binom.test(t[["a_only"]], t[["a_only"]] + t[["b_only"]], 0.5)$p.value)
}
write.csv(do.call(rbind, rows), stdout(), row.names = FALSE, quote = FALSE)
