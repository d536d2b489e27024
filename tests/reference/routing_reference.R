# Reference values for abkit.serve.routing (SRM chi-square, Wilson interval), computed with base R.
# Regenerate with: Rscript tests/reference/routing_reference.R > tests/reference/routing_reference.csv
rows <- list()
add <- function(case, quantity, value) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, quantity = quantity,
                                          value = sprintf("%.15g", value))
}
srm <- chisq.test(c(8200, 1800), p = c(0.8, 0.2))
add("srm_8200_1800", "statistic", srm$statistic)
add("srm_8200_1800", "p_value", srm$p.value)
srm3 <- chisq.test(c(510, 260, 230), p = c(0.5, 0.25, 0.25))
add("srm_abn", "p_value", srm3$p.value)
# prop.test without continuity correction gives the Wilson score interval
w <- prop.test(3994, 20000, correct = FALSE)$conf.int
add("wilson_3994_20000", "low", w[1])
add("wilson_3994_20000", "high", w[2])
write.csv(do.call(rbind, rows), stdout(), row.names = FALSE, quote = FALSE)
