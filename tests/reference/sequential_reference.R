# Group-sequential boundaries from R package rpact (Debian r-cran-rpact), two-sided alpha 0.05.
# Regenerate with: Rscript tests/reference/sequential_reference.R > tests/reference/sequential_reference.csv
# Pocock-type spending (asP) and the Kim-DeMets power family with rho = 3 (asKD) spend alpha / 2
# per side with the same functions abkit.sequential uses for the two-sided total.
suppressPackageStartupMessages(library(rpact))
rows <- list()
add <- function(case, look, value) rows[[length(rows) + 1]] <<- data.frame(case = case, look = look, value = sprintf("%.12g", value))
p <- getDesignGroupSequential(kMax = 4, alpha = 0.05, sided = 2, typeOfDesign = "asP", informationRates = (1:4) / 4)
for (k in 1:4) add("pocock_4", k, p$criticalValues[k])
kd <- getDesignGroupSequential(kMax = 5, alpha = 0.05, sided = 2, typeOfDesign = "asKD", gammaA = 3, informationRates = (1:5) / 5)
for (k in 1:5) add("power3_5", k, kd$criticalValues[k])
uneven <- getDesignGroupSequential(kMax = 3, alpha = 0.05, sided = 2, typeOfDesign = "asKD", gammaA = 2, informationRates = c(0.3, 0.7, 1))
for (k in 1:3) add("power2_uneven", k, uneven$criticalValues[k])
write.csv(do.call(rbind, rows), stdout(), row.names = FALSE, quote = FALSE)
