# Group-sequential boundaries from R package rpact (Debian r-cran-rpact), two-sided alpha 0.05.
# Regenerate with: Rscript tests/reference/sequential_reference.R > tests/reference/sequential_reference.csv
# Pocock-type spending (asP) and the Kim-DeMets power family with rho = 3 (asKD) spend alpha / 2
# per side with the same functions abkit.stats.sequential uses for the two-sided total.
suppressPackageStartupMessages(library(rpact))
rows <- list()
add <- function(case, look, value) rows[[length(rows) + 1]] <<- data.frame(case = case, look = look, value = sprintf("%.12g", value))
p <- getDesignGroupSequential(kMax = 4, alpha = 0.05, sided = 2, typeOfDesign = "asP", informationRates = (1:4) / 4)
for (k in 1:4) add("pocock_4", k, p$criticalValues[k])
kd <- getDesignGroupSequential(kMax = 5, alpha = 0.05, sided = 2, typeOfDesign = "asKD", gammaA = 3, informationRates = (1:5) / 5)
for (k in 1:5) add("power3_5", k, kd$criticalValues[k])
uneven <- getDesignGroupSequential(kMax = 3, alpha = 0.05, sided = 2, typeOfDesign = "asKD", gammaA = 2, informationRates = c(0.3, 0.7, 1))
for (k in 1:3) add("power2_uneven", k, uneven$criticalValues[k])
# O'Brien-Fleming in its two conventions and Pocock, 3-5 looks, equal and unequal spacing:
# "obf_per_side": rpact's asOF (as gsDesign's sfLDOF): alpha / 2 per side, each side spending
#   2 - 2 Phi(z_{1 - alpha/4} / sqrt(t));
# "obf_two_sided": Lan-DeMets' two-sided form, total 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t)), given to
#   rpact as a user spending function (asUser; capped at alpha for rounding at t = 1);
# "pocock": asP. Also the cumulative alpha rpact spends at each look.
spacings <- list(
  equal_3 = (1:3) / 3, equal_4 = (1:4) / 4, equal_5 = (1:5) / 5,
  unequal_3 = c(0.2, 0.5, 1), unequal_4 = c(0.1, 0.4, 0.7, 1), unequal_5 = c(0.15, 0.3, 0.55, 0.8, 1)
)
for (name in names(spacings)) {
  t <- spacings[[name]]
  designs <- list(
    obf_per_side = getDesignGroupSequential(informationRates = t, alpha = 0.05, sided = 2, typeOfDesign = "asOF"),
    obf_two_sided = getDesignGroupSequential(
      informationRates = t, alpha = 0.05, sided = 2, typeOfDesign = "asUser",
      userAlphaSpending = pmin(2 - 2 * pnorm(qnorm(1 - 0.05 / 2) / sqrt(t)), 0.05)
    ),
    pocock = getDesignGroupSequential(informationRates = t, alpha = 0.05, sided = 2, typeOfDesign = "asP")
  )
  for (design in names(designs)) {
    d <- designs[[design]]
    for (k in seq_along(t)) {
      add(paste(design, name, sep = "_"), k, d$criticalValues[k])
      add(paste(design, name, "spent", sep = "_"), k, d$alphaSpent[k])
    }
  }
}
# The three looks of tests/test_monitoring.py: the bundled log through 2026-01-08, 2026-01-12 and
# its end, 6316, 9396 and 12000 of 12000 planned users.
t <- c(6316, 9396, 12000) / 12000
looks <- list(
  looks_obf_two_sided = getDesignGroupSequential(
    informationRates = t, alpha = 0.05, sided = 2, typeOfDesign = "asUser",
    userAlphaSpending = pmin(2 - 2 * pnorm(qnorm(1 - 0.05 / 2) / sqrt(t)), 0.05)
  ),
  looks_obf_per_side = getDesignGroupSequential(informationRates = t, alpha = 0.05, sided = 2, typeOfDesign = "asOF")
)
for (design in names(looks)) for (k in seq_along(t)) add(design, k, looks[[design]]$criticalValues[k])
write.csv(do.call(rbind, rows), stdout(), row.names = FALSE, quote = FALSE)
