# R survey reference timing for benchmarks/bench_linearise.py (run by it; not standalone).
#
# Usage: Rscript bench_r_survey.R data.csv margins.csv out.csv
# Reads the benchmark survey written by bench_linearise.py, calibrates it with
#   calibrate(des, ~age + sex + district, population = pop, calfun = "raking")
# and estimates every variable by district with svyby(~v, ~district, cal, svymean, na.rm = TRUE)
# (one call per variable: available cases per variable, as geo-cohesion does).
# Writes district, variable, mean, se to out.csv. Progress goes to stderr as it happens (so a run
# stopped at the time budget still tells how far it got): "TIME calibrate <s>" and one
# "TIME svyby_<variable> <s>" per variable (elapsed seconds).
suppressPackageStartupMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], colClasses = c(district = "character", age = "character", sex = "character",
                                      stratum = "character"))
m <- read.csv(args[2], colClasses = c(variable = "character", category = "character"))
for (v in c("age", "sex", "district")) d[[v]] <- factor(d[[v]], levels = m$category[m$variable == v])
des <- svydesign(ids = ~1, strata = ~stratum, weights = ~dw, data = d)
pop <- c("(Intercept)" = sum(m$population[m$variable == "sex"]))
for (v in c("age", "sex", "district")) {
  cats <- m$category[m$variable == v]
  pop <- c(pop, setNames(m$population[m$variable == v][-1], paste0(v, cats[-1])))
}
t_cal <- system.time(
  cal <- calibrate(des, ~age + sex + district, population = pop, calfun = "raking", epsilon = 1e-10, maxit = 1000)
)[["elapsed"]]
message(sprintf("TIME calibrate %.6f", t_cal))
variables <- grep("^v[0-9]+$", names(d), value = TRUE)
rows <- list()
for (v in variables) {
  t_v <- system.time(
    sb <- svyby(as.formula(paste0("~", v)), ~district, cal, svymean, na.rm = TRUE)
  )[["elapsed"]]
  message(sprintf("TIME svyby_%s %.6f", v, t_v))
  rows[[v]] <- data.frame(district = as.character(sb$district), variable = v, mean = unname(coef(sb)),
                          se = unname(SE(sb)))
}
write.csv(do.call(rbind, rows), args[3], row.names = FALSE)
