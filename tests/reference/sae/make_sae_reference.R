# Reference values from R package `sae` (CRAN, version 1.3) for
# geo_cohesion.survey.sae (tests/survey/test_sae.py).
#
# Usage (from the repository root; needs R with package sae installed):
#   Rscript tests/reference/sae/make_sae_reference.R
#
# Writes, next to this script:
#   milk.csv, grapes.csv, grapesprox.csv   the example data sets shipped with sae
#   edge_data.csv, edge_prox_raw.csv       a small spatial fixture built here (set.seed)
#   sae_reference.json                     all reference values
# Numbers are written with sprintf("%.17g") so doubles round-trip exactly.
# Deterministic: re-running reproduces byte-identical files.

suppressPackageStartupMessages(library(sae))

script_dir <- local({
  args <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", args[grep("^--file=", args)])
  if (length(f) == 1) dirname(normalizePath(f)) else getwd()
})
out <- function(name) file.path(script_dir, name)

TIGHT <- 1e-12      # PRECISION for the reference values (sae's default is 1e-4)
MAXITER <- 1000

## ---- minimal JSON writer (base R only) ----------------------------------------------------
fmt_num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", x))
arr <- function(x) structure(x, json_array = TRUE)
to_json <- function(x, ind = "") {
  nxt <- paste0(ind, "  ")
  if (is.list(x)) {
    body <- vapply(names(x), function(k) paste0(nxt, '"', k, '": ', to_json(x[[k]], nxt)), "")
    return(paste0("{\n", paste(body, collapse = ",\n"), "\n", ind, "}"))
  }
  as_array <- isTRUE(attr(x, "json_array")) || length(x) != 1
  vals <- if (is.character(x)) paste0('"', gsub('"', '\\\\"', x), '"')
          else if (is.logical(x)) ifelse(x, "true", "false")
          else fmt_num(as.numeric(x))
  if (as_array) paste0("[", paste(vals, collapse = ", "), "]") else vals
}

write_csv17 <- function(df, file) {
  cols <- lapply(df, function(v) if (is.numeric(v)) fmt_num(v) else as.character(v))
  lines <- do.call(paste, c(cols, sep = ","))
  writeLines(c(paste(names(df), collapse = ","), lines), file, useBytes = TRUE)
}

## ---- example data sets ----------------------------------------------------------------------
data(milk); data(grapes); data(grapesprox)
write_csv17(milk, out("milk.csv"))
write_csv17(grapes, out("grapes.csv"))
write_csv17(as.data.frame(grapesprox), out("grapesprox.csv"))
milk$var <- milk$SD^2   # eblupFH(..., SD^2, data=milk) looks the name "SD^2" up in data

## ---- non-spatial Fay-Herriot -----------------------------------------------------------------
fh_record <- function(formula, data, method, call, precision = TIGHT) {
  tight <- mseFH(formula, var, method = method, MAXITER = MAXITER, PRECISION = precision, data = data)
  stopifnot(tight$est$fit$convergence)
  fit <- tight$est$fit
  rec <- list(
    call = call, method = method, precision = precision,
    estimate = arr(as.vector(tight$est$eblup)), mse = arr(tight$mse),
    sigma2_u = fit$refvar,
    beta = arr(fit$estcoef$beta), beta_names = arr(rownames(fit$estcoef)),
    beta_se = arr(fit$estcoef$std.error),
    loglike = unname(fit$goodness["loglike"]), AIC = unname(fit$goodness["AIC"]),
    BIC = unname(fit$goodness["BIC"]), iterations = fit$iterations
  )
  if (precision != 1e-4) {  # sae's defaults (PRECISION = 1e-4, MAXITER = 100)
    dflt <- mseFH(formula, var, method = method, data = data)
    stopifnot(dflt$est$fit$convergence)
    rec$default_precision <- list(
      precision = 1e-4, iterations = dflt$est$fit$iterations,
      estimate = arr(as.vector(dflt$est$eblup)), mse = arr(dflt$mse),
      sigma2_u = dflt$est$fit$refvar)
  }
  rec
}

ref <- list(
  source = sprintf("R package sae %s (CRAN), %s", as.character(packageVersion("sae")),
                   R.version.string),
  milk = list(), milk_subset = list(), milk_boundary = list(),
  grapes = list(), edge = list()
)
f_milk <- yi ~ as.factor(MajorArea)
for (meth in c("REML", "ML", "FH")) {
  ref$milk[[meth]] <- fh_record(f_milk, milk, meth,
    sprintf('mseFH(yi ~ as.factor(MajorArea), SD^2, method="%s", data=milk)', meth))
}

# Areas without a direct estimate: sae cannot predict them, but the fit on the other areas
# must equal geo-cohesion's fit with NaN direct estimates for these rows (1-based).
drop <- c(5, 20, 38)
milk_sub <- milk[-drop, ]
ref$milk_subset$dropped_rows_1based <- arr(drop)
for (meth in c("REML", "ML", "FH")) {
  ref$milk_subset[[meth]] <- fh_record(f_milk, milk_sub, meth,
    sprintf('mseFH(yi ~ as.factor(MajorArea), SD^2, method="%s", data=milk[-c(5, 20, 38), ])', meth))
}

# Boundary: direct estimates close to the fitted regression (noise below the sampling
# variances), so every estimator of sigma2_u is truncated at 0. sae's Fisher scoring keeps
# iterating on negative values and never stops for a tight PRECISION (REML even hits a singular
# matrix), so these use PRECISION = 1e-4 (with MAXITER = 1000: ML and FH need 138 and 152
# iterations to creep to their negative limits); the result (sigma2_u = 0) is exact.
set.seed(1979)
fit0 <- lm(yi ~ as.factor(MajorArea), data = milk)
milk_b <- milk
milk_b$yi <- fitted(fit0) + 0.5 * milk$SD * rnorm(nrow(milk))
ref$milk_boundary$yi <- arr(milk_b$yi)
for (meth in c("REML", "ML", "FH")) {
  ref$milk_boundary[[meth]] <- fh_record(f_milk, milk_b, meth,
    sprintf('mseFH(yi ~ as.factor(MajorArea), SD^2, method="%s", data=milk) with yi = fitted + 0.5*SD*N(0,1), set.seed(1979)', meth),
    precision = 1e-4)
  stopifnot(ref$milk_boundary[[meth]]$sigma2_u == 0)
}

## ---- spatial Fay-Herriot ---------------------------------------------------------------------
sfh_record <- function(formula, data, prox, method, call) {
  tight <- mseSFH(formula, vardir, prox, method = method, MAXITER = MAXITER, PRECISION = TIGHT,
                  data = data)
  dflt  <- mseSFH(formula, vardir, prox, method = method, data = data)
  stopifnot(tight$est$fit$convergence, dflt$est$fit$convergence)
  fit <- tight$est$fit
  list(
    call = call, method = method, precision = TIGHT,
    estimate = arr(as.vector(tight$est$eblup)), mse = arr(tight$mse),
    sigma2_u = fit$refvar, rho = fit$spatialcorr,
    beta = arr(fit$estcoef$beta), beta_names = arr(rownames(fit$estcoef)),
    beta_se = arr(fit$estcoef$std.error),
    loglike = unname(fit$goodness["loglike"]), AIC = unname(fit$goodness["AIC"]),
    BIC = unname(fit$goodness["BIC"]), iterations = fit$iterations,
    default_precision = list(
      precision = 1e-4, iterations = dflt$est$fit$iterations,
      estimate = arr(as.vector(dflt$est$eblup)), mse = arr(dflt$mse),
      sigma2_u = dflt$est$fit$refvar, rho = dflt$est$fit$spatialcorr)
  )
}

grapes$vardir <- grapes$var
for (meth in c("REML", "ML")) {
  ref$grapes[[meth]] <- sfh_record(grapehect ~ area + workdays - 1, grapes, grapesprox, meth,
    sprintf('mseSFH(grapehect ~ area + workdays - 1, var, grapesprox, method="%s", data=grapes)', meth))
}

# Edge fixture: 30 areas on a 6 x 5 rook grid with unequal, non-normalised symmetric weights
# (rows do not sum to 1) and one island (area 30: no neighbours). sae::eblupSFH expects a
# row-standardised proximity matrix, so R gets raw / rowSums with the island's row left at 0;
# geo-cohesion gets the raw matrix and must row-standardise it the same way.
set.seed(20240611)
nr <- 6; nc <- 5; m <- nr * nc
rc <- expand.grid(r = seq_len(nr), c = seq_len(nc))
raw <- matrix(0, m, m)
for (i in seq_len(m)) for (j in seq_len(m)) {
  if (i < j && abs(rc$r[i] - rc$r[j]) + abs(rc$c[i] - rc$c[j]) == 1) {
    raw[i, j] <- raw[j, i] <- round(runif(1, 0.5, 3), 2)
  }
}
raw[m, ] <- 0; raw[, m] <- 0
rs <- rowSums(raw)
prox <- raw
prox[rs > 0, ] <- raw[rs > 0, ] / rs[rs > 0]
x1 <- round(runif(m, 0, 10), 3)
psi <- round(runif(m, 0.5, 3), 3)
u <- solve(diag(m) - 0.7 * prox, rnorm(m, sd = sqrt(3)))
y <- 5 + 0.8 * x1 + as.vector(u) + rnorm(m, sd = sqrt(psi))
edge <- data.frame(area = seq_len(m), y = y, x1 = x1, vardir = psi)
write_csv17(edge, out("edge_data.csv"))
write_csv17(as.data.frame(raw), out("edge_prox_raw.csv"))
for (meth in c("REML", "ML")) {
  ref$edge[[meth]] <- sfh_record(y ~ x1, edge, prox, meth,
    sprintf('mseSFH(y ~ x1, vardir, prox, method="%s", data=edge) with prox = raw / rowSums(raw) (island row 0)', meth))
}

writeLines(to_json(ref), out("sae_reference.json"), useBytes = TRUE)
cat("wrote", out("sae_reference.json"), "\n")
for (meth in c("REML", "ML")) {
  cat("edge", meth, ": sigma2_u =", ref$edge[[meth]]$sigma2_u, " rho =", ref$edge[[meth]]$rho,
      " iterations =", ref$edge[[meth]]$iterations, "\n")
  cat("grapes", meth, ": sigma2_u =", ref$grapes[[meth]]$sigma2_u, " rho =", ref$grapes[[meth]]$rho,
      " iterations =", ref$grapes[[meth]]$iterations, "\n")
}
