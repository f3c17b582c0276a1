# Reference values from R package `metafor` (multilevel random-effects model with known
# sampling variances, rma.mv) for the two-fold Fay-Herriot model of
# geo_cohesion.survey.sae_twofold (tests/survey/test_sae_twofold.py).
#
# The two-fold area-level model y_d = x_d'beta + v_g(d) + u_d + e_d with known var(e_d) = psi_d is
# rma.mv(yi, V = psi, mods = ~ x, random = ~ 1 | group/area, method = "REML"): sigma2[1] is
# sigma2_v (groups), sigma2[2] is sigma2_u (areas within groups). EBLUPs are fitted values plus
# the two predicted random effects (ranef). metafor's prediction variances (pred.se) are not
# used: they ignore the uncertainty of the variance estimates (no g3 term).
#
# Usage (from the repository root; needs R with metafor, Debian: r-cran-metafor):
#   Rscript tests/reference/twofold/make_twofold_reference.R
# Input: tests/reference/sae/milk.csv (sae's data(milk), 43 areas in 4 MajorAreas).
# Writes twofold_reference.csv next to this script (%.17g, so doubles round-trip).
suppressPackageStartupMessages(library(metafor))
script_dir <- local({
  args <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", args[grep("^--file=", args)])
  if (length(f) == 1) dirname(normalizePath(f)) else getwd()
})
milk <- read.csv(file.path(script_dir, "..", "sae", "milk.csv"))
milk$psi <- milk$SD^2
milk$logn <- log(milk$ni)
rows <- list()
for (case in c("intercept", "logn")) {
  f <- if (case == "intercept") ~ 1 else ~ logn
  fit <- rma.mv(yi, V = psi, mods = f, random = ~ 1 | MajorArea/SmallArea, data = milk,
                method = "REML", control = list(optimizer = "optim", optmethod = "BFGS",
                                                reltol = 1e-15, maxit = 10000))
  re <- ranef(fit)
  v <- re[["MajorArea"]][as.character(milk$MajorArea), "intrcpt"]
  u <- re[["MajorArea/SmallArea"]][paste(milk$MajorArea, milk$SmallArea, sep = "/"), "intrcpt"]
  est <- as.numeric(fitted(fit)) + v + u
  b <- as.numeric(coef(fit))
  rows[[case]] <- data.frame(case = case, area = milk$SmallArea, estimate = sprintf("%.17g", est),
                             sigma2_v = sprintf("%.17g", fit$sigma2[1]), sigma2_u = sprintf("%.17g", fit$sigma2[2]),
                             beta0 = sprintf("%.17g", b[1]), beta1 = sprintf("%.17g", if (length(b) > 1) b[2] else 0),
                             loglik_reml = sprintf("%.17g", as.numeric(logLik(fit))))
}
out <- do.call(rbind, rows)
write.csv(out, file.path(script_dir, "twofold_reference.csv"), row.names = FALSE, quote = FALSE)
cat("metafor", as.character(packageVersion("metafor")), "\n")
