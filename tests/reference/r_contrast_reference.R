# Reference for "district minus city" deviations (geo-cohesion comparison tests).
#
# For each district d and outcome y1/y3 (no missing values), the deviation of the district mean
# from the city mean, ybar_d - ybar = T(y*1[d])/T(1[d]) - T(y)/T(1), as a nonlinear contrast of
# survey totals: svycontrast() applies the delta method to svytotal()'s covariance, i.e. the
# same linearisation geo-cohesion uses, including the covariance between district and city.
# Designs: fixed weights (stratified) and calibrate(calfun = "raking").
# Usage (repo root): Rscript tests/reference/r_contrast_reference.R
suppressPackageStartupMessages({ library(survey) })
script_dir <- local({
  args <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", args[grep("^--file=", args)])
  if (length(f) == 1) dirname(normalizePath(f)) else getwd()
})
d <- read.csv(file.path(script_dir, "survey_small.csv"), na.strings = "", stringsAsFactors = FALSE,
              colClasses = c(stratum = "character", district = "character", age_group = "character",
                             gender = "character"))
m <- read.csv(file.path(script_dir, "margins_small.csv"), stringsAsFactors = FALSE,
              colClasses = c(variable = "character", category = "character"))
for (v in c("age_group", "gender", "district")) {
  d[[v]] <- factor(d[[v]], levels = m$category[m$variable == v])
}
des <- svydesign(ids = ~1, strata = ~stratum, weights = ~design_weight, data = d)
pop <- c("(Intercept)" = sum(m$population[m$variable == "gender"]))
for (v in c("age_group", "gender", "district")) {
  cats <- m$category[m$variable == v]
  tot <- m$population[m$variable == v]
  pop <- c(pop, setNames(tot[-1], paste0(v, cats[-1])))
}
cal <- calibrate(des, ~age_group + gender + district, population = pop, calfun = "raking",
                 epsilon = 1e-12, maxit = 1000)
lines <- c()
for (design_name in c("fixed", "calibrate")) {
  dz <- if (design_name == "fixed") des else cal
  dz <- update(dz, one = 1)
  for (y in c("y1", "y3")) {
    for (dist in levels(d$district)) {
      dz2 <- update(dz, yd = get(y) * (district == dist), ind = 1 * (district == dist), yy = get(y))
      t <- svytotal(~yd + ind + yy + one, dz2)
      con <- svycontrast(t, quote(yd / ind - yy / one))
      lines <- c(lines, sprintf('{"design":"%s","variable":"%s","district":"%s","deviation":%.17g,"se":%.17g}',
                                design_name, y, dist, coef(con), SE(con)))
    }
  }
}
writeLines(c(sprintf('{"r_version":"%s","survey_version":"%s","rows":[', R.version.string,
                     as.character(packageVersion("survey"))), paste(lines, collapse = ",\n"), "]}"),
           file.path(script_dir, "r_contrast_reference.json"))
