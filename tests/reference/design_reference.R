# Reference values for abkit.design.sample_size, computed with R (base stats + pwr).
# Regenerate with:  Rscript tests/reference/design_reference.R > tests/reference/design_reference.csv
# CI does not need R: the CSV output is committed beside this script.
suppressPackageStartupMessages(library(pwr))
# uniroot tolerance: the default (eps^0.25 ~ 1.2e-4) is too loose for a 1e-6 comparison.
tol <- 1e-10

rows <- list()
add <- function(case, quantity, value) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, quantity = quantity,
                                          value = sprintf("%.12g", value))
}

# power.prop.test: equal groups, pooled null, strict = FALSE (one tail).
n_cases <- list(
  list(id = "prop_n_003_002", p1 = 0.03, p2 = 0.02, power = 0.8, sig = 0.05),
  list(id = "prop_n_010_0105", p1 = 0.10, p2 = 0.105, power = 0.8, sig = 0.05),
  list(id = "prop_n_075_080", p1 = 0.75, p2 = 0.80, power = 0.8, sig = 0.05),
  list(id = "prop_n_050_075_a01_p09", p1 = 0.50, p2 = 0.75, power = 0.9, sig = 0.01),
  list(id = "prop_n_0713_0789", p1 = 0.713, p2 = 0.789, power = 0.8, sig = 0.05)
)
for (k in n_cases) {
  add(k$id, "n_per_group", power.prop.test(p1 = k$p1, p2 = k$p2, power = k$power, sig.level = k$sig, tol = tol)$n)
}
# help(power.prop.test) examples: power for n = 50, p1 = .5, p2 = .75; and p2 for n = 50, power = .9
add("prop_power_help", "power", power.prop.test(n = 50, p1 = .50, p2 = .75)$power)
add("prop_p2_help", "p2", power.prop.test(n = 50, p1 = .5, power = .90, tol = tol)$p2)
add("prop_power_075_n1000", "power", power.prop.test(n = 1000, p1 = .75, p2 = .80)$power)
add("prop_p2_075_n1500", "p2", power.prop.test(n = 1500, p1 = .75, power = .80, tol = tol)$p2)

# pwr.2p2n.test: Cohen's h with unequal groups (n1 = control, n2 = treatment).
h <- ES.h(0.80, 0.75)
add("cohen_h_unequal_power", "power", pwr.2p2n.test(h = h, n1 = 2800, n2 = 700, sig.level = 0.05)$power)
add("cohen_h_equal_n", "n_per_group", pwr.2p.test(h = ES.h(0.48, 0.40), sig.level = 0.05, power = 0.8)$n)

# pwr.t2n.test: Student t, common SD, unequal groups.
add("t_unequal_power", "power", pwr.t2n.test(n1 = 1600, n2 = 400, d = 0.15, sig.level = 0.05)$power)
add("t_equal_n", "n_per_group", pwr.t.test(d = 0.2, sig.level = 0.05, power = 0.8)$n)
# pwr.norm.test: one-sample normal, both tails; d scaled for two groups below in the test.
add("norm_power", "power", pwr.norm.test(d = 0.3 / sqrt(2), n = 80, sig.level = 0.05)$power)

# 80/20 split (treatment share 0.2, n1 = control = 4 * n2), 75 % -> 80 %, power 0.8:
# Cohen's h by pwr.2p2n.test, solved for the total with uniroot.
h_seed <- ES.h(0.80, 0.75)
n2 <- uniroot(function(n2) pwr.2p2n.test(h = h_seed, n1 = 4 * n2, n2 = n2)$power - 0.8,
              c(10, 1e6), tol = tol)$root
add("cohen_h_80_20_total", "n_total", 5 * n2)
# Pooled two-proportion test with unequal allocation, written out from Fleiss, Levin & Paik
# (2003) eq. 4.19 with r = n_C / n_T: n_T = [z_a sqrt((r+1) pbar qbar) + z_b sqrt(r p_T q_T + p_C q_C)]^2 / (r d^2)
fleiss_total <- function(pc, pt, share, alpha = 0.05, power = 0.8) {
  r <- (1 - share) / share
  pbar <- (r * pc + pt) / (r + 1)
  za <- qnorm(1 - alpha / 2); zb <- qnorm(power)
  nt <- (za * sqrt((r + 1) * pbar * (1 - pbar)) + zb * sqrt(r * pt * (1 - pt) + pc * (1 - pc)))^2 /
    (r * (pt - pc)^2)
  nt * (r + 1)
}
add("pooled_80_20_total", "n_total", fleiss_total(0.75, 0.80, 0.2))
add("pooled_90_10_total_0713", "n_total", fleiss_total(0.713, 0.789, 0.1))
# Two means, common SD: CSAT 3.8 vs 3.9 with SD 1.1, equal groups.
add("t_csat_n", "n_per_group", pwr.t.test(d = 0.1 / 1.1, sig.level = 0.05, power = 0.8)$n)

out <- do.call(rbind, rows)
write.csv(out, stdout(), row.names = FALSE, quote = FALSE)
