# Independent reference values from R's `survey` package for geo-cohesion tests.
#
# Reads survey_small.csv / margins_small.csv (written by make_reference_data.py)
# and writes r_survey_reference.json next to this script.
#
# Usage (from the repo root):
#   python tests/reference/make_reference_data.py && Rscript tests/reference/r_survey_reference.R
#
# All numbers are written with sprintf("%.17g") (round-trip double precision);
# jsonlite is only used to escape strings (its toJSON caps at 15 significant digits).

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

## ---- locate files ---------------------------------------------------------
script_dir <- local({
  args <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", args[grep("^--file=", args)])
  if (length(f) == 1) dirname(normalizePath(f)) else getwd()
})
data_path    <- file.path(script_dir, "survey_small.csv")
margins_path <- file.path(script_dir, "margins_small.csv")
out_path     <- file.path(script_dir, "r_survey_reference.json")

## ---- read data -------------------------------------------------------------
d <- read.csv(data_path, encoding = "UTF-8", na.strings = "",
              colClasses = c(resp_id = "integer", stratum = "character",
                             district = "character", age_group = "character",
                             gender = "character", design_weight = "numeric",
                             y1 = "numeric", y2 = "numeric", y3 = "numeric"),
              stringsAsFactors = FALSE)
m <- read.csv(margins_path, encoding = "UTF-8",
              colClasses = c(variable = "character", category = "character",
                             population = "numeric"),
              stringsAsFactors = FALSE)

# Factor levels in the order of the margins file (first level = reference
# category for calibrate()'s model matrix; final weights do not depend on it).
lev <- function(v) m$category[m$variable == v]
d$age_group <- factor(d$age_group, levels = lev("age_group"))
d$gender    <- factor(d$gender,    levels = lev("gender"))
d$district  <- factor(d$district,  levels = lev("district"))
stopifnot(!anyNA(d$age_group), !anyNA(d$gender), !anyNA(d$district))

outcomes  <- c("y1", "y2", "y3")
districts <- levels(d$district)
N_total   <- sum(m$population[m$variable == "district"])
for (v in c("age_group", "gender")) stopifnot(sum(m$population[m$variable == v]) == N_total)

## ---- population margins ---------------------------------------------------
pop_df <- function(v) {
  x <- data.frame(factor(lev(v), levels = lev(v)), m$population[m$variable == v])
  names(x) <- c(v, "Freq")
  x
}
pop_margins <- list(pop_df("age_group"), pop_df("gender"), pop_df("district"))

## ---- fixed-weight design --------------------------------------------------
des <- svydesign(ids = ~1, strata = ~stratum, weights = ~design_weight, data = d)

## ---- raked design ---------------------------------------------------------
des_rake <- rake(des, list(~age_group, ~gender, ~district), pop_margins,
                 control = list(maxit = 1000, epsilon = 1e-12, verbose = FALSE))

## ---- calibrate(calfun = "raking") -----------------------------------------
mm <- model.matrix(~age_group + gender + district, data = d)
pop_vec <- sapply(colnames(mm), function(cn) {
  if (cn == "(Intercept)") return(N_total)
  for (v in c("age_group", "gender", "district")) {
    if (startsWith(cn, v)) {
      cat_ <- substring(cn, nchar(v) + 1)
      return(m$population[m$variable == v & m$category == cat_])
    }
  }
  stop("unmatched column ", cn)
})
names(pop_vec) <- colnames(mm)

des_cal <- calibrate(des, ~age_group + gender + district, population = pop_vec,
                     calfun = "raking", epsilon = 1e-12, maxit = 1000)

## ---- bounded calibration --------------------------------------------------
bounds_tried <- list(c(0.5, 2), c(0.4, 2.5), c(0.3, 3))
bounded <- NULL
for (b in bounds_tried) {
  res <- tryCatch(
    withCallingHandlers(
      calibrate(des, ~age_group + gender + district, population = pop_vec,
                calfun = "raking", bounds = b, epsilon = 1e-12, maxit = 1000),
      warning = function(w) stop(conditionMessage(w))),
    error = function(e) e)
  if (!inherits(res, "error")) { bounded <- list(design = res, bounds = b); break }
  message("bounds ", paste(b, collapse = ","), " failed: ", conditionMessage(res))
}
if (is.null(bounded)) stop("no bounded calibration converged")

## ---- estimates ------------------------------------------------------------
estimates <- function(design) {
  by_district <- list()
  overall <- list()
  for (y in outcomes) {
    f <- as.formula(paste0("~", y))
    sb <- svyby(f, ~district, design, svymean, na.rm = TRUE)
    est <- coef(sb); se <- SE(sb)
    by_district[[y]] <- lapply(seq_along(est), function(i)
      list(district = as.character(sb$district[i]),
           mean = unname(est[i]), se = unname(se[i])))
    sm <- svymean(f, design, na.rm = TRUE)
    overall[[y]] <- list(mean = unname(coef(sm)), se = unname(SE(sm)[1]))
  }
  list(by_district = by_district, overall = overall)
}

design_block <- function(design, call_str, extra = list()) {
  w <- unname(weights(design))
  c(list(call = call_str, weights = I(w), sum_weights = sum(w)),
    extra, estimates(design))
}

margin_check <- function(w) {
  out <- list()
  for (v in c("age_group", "gender", "district")) {
    tw <- tapply(w, d[[v]], sum)
    out[[v]] <- max(abs(tw[lev(v)] - m$population[m$variable == v]))
  }
  out
}

w_rake <- unname(weights(des_rake))
w_cal  <- unname(weights(des_cal))
w_bnd  <- unname(weights(bounded$design))
n      <- nrow(d)
deff_kish <- n * sum(w_rake^2) / sum(w_rake)^2

mc_rake <- margin_check(w_rake)
mc_cal  <- margin_check(w_cal)
mc_bnd  <- margin_check(w_bnd)
stopifnot(all(unlist(mc_rake) < 1e-8), all(unlist(mc_cal) < 1e-8), all(unlist(mc_bnd) < 1e-8))

g_bnd <- w_bnd / d$design_weight

calls <- list(
  read = 'read.csv("survey_small.csv", encoding="UTF-8", na.strings="", colClasses=...character for text columns...); factors with levels in margins_small.csv order',
  design = "svydesign(ids=~1, strata=~stratum, weights=~design_weight, data=d)",
  by_district = "svyby(~y, ~district, design, svymean, na.rm=TRUE)  # for y in y1, y2, y3 separately",
  overall = "svymean(~y, design, na.rm=TRUE)  # for y in y1, y2, y3 separately",
  rake = "rake(des, list(~age_group, ~gender, ~district), list(data.frame(age_group=..., Freq=...), data.frame(gender=..., Freq=...), data.frame(district=..., Freq=...)), control=list(maxit=1000, epsilon=1e-12, verbose=FALSE))",
  calibrate = "calibrate(des, ~age_group+gender+district, population=pop_vec, calfun=\"raking\", epsilon=1e-12, maxit=1000)",
  calibrate_bounded = sprintf("calibrate(des, ~age_group+gender+district, population=pop_vec, calfun=\"raking\", bounds=c(%s, %s), epsilon=1e-12, maxit=1000)",
                              format(bounded$bounds[1]), format(bounded$bounds[2])),
  kish_deff = "n*sum(w^2)/sum(w)^2 with w = weights(rake design); n_eff = n/deff"
)

out <- list(
  meta = list(
    r_version = R.version.string,
    survey_version = as.character(packageVersion("survey")),
    jsonlite_version = as.character(packageVersion("jsonlite")),
    generated_by = "tests/reference/r_survey_reference.R",
    data_file = "survey_small.csv",
    margins_file = "margins_small.csv",
    n = n,
    n_missing = list(y1 = sum(is.na(d$y1)), y2 = sum(is.na(d$y2)), y3 = sum(is.na(d$y3))),
    population_total = N_total,
    weights_order = "row order of survey_small.csv (resp_id 1..n)",
    districts = I(districts),
    calls = calls,
    calibrate_population = as.list(pop_vec),
    note = paste(
      "rake() and calibrate(calfun='raking') give the same weights (to ~1e-9) but",
      "slightly different SEs: rake() linearises via 10 sweeps of unweighted",
      "backfitting (x <- x - psw*apply(x/psw, 2, ave, margin)); calibrate() uses",
      "qr.resid(qr(mm*sqrt(design weights)), x/w)*w with w = g*sqrt(design weight),",
      "i.e. design-weighted GREG residuals times calibrated weights.")
  ),
  resp_id = I(d$resp_id),
  design_weight = I(d$design_weight),
  fixed = design_block(des, calls$design),
  rake = design_block(des_rake, calls$rake,
                      list(max_abs_margin_error = mc_rake)),
  calibrate = design_block(des_cal, calls$calibrate,
                           list(max_abs_margin_error = mc_cal,
                                max_abs_weight_diff_vs_rake = max(abs(w_cal - w_rake)))),
  calibrate_bounded = design_block(bounded$design, calls$calibrate_bounded,
                                   list(bounds = I(bounded$bounds),
                                        bounds_requested = I(c(0.5, 2)),
                                        g_range = I(range(g_bnd)),
                                        max_abs_margin_error = mc_bnd)),
  kish = list(weights = "rake", n = n, deff = deff_kish, n_eff = n / deff_kish,
              sum_w = sum(w_rake), sum_w2 = sum(w_rake^2))
)

## ---- minimal JSON writer with full double precision -----------------------
to_json <- function(x, indent = 0) {
  pad  <- strrep("  ", indent)
  pad1 <- strrep("  ", indent + 1)
  as_array <- inherits(x, "AsIs") || length(x) != 1
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    inner <- vapply(x, to_json, character(1), indent = indent + 1)
    if (!is.null(names(x))) {
      keys <- vapply(names(x), function(k) as.character(toJSON(k, auto_unbox = TRUE)), character(1))
      return(paste0("{\n", paste0(pad1, keys, ": ", inner, collapse = ",\n"), "\n", pad, "}"))
    }
    return(paste0("[\n", paste0(pad1, inner, collapse = ",\n"), "\n", pad, "]"))
  }
  x <- unclass(x)
  vals <- if (is.character(x)) {
    vapply(x, function(s) if (is.na(s)) "null" else as.character(toJSON(s, auto_unbox = TRUE)), character(1))
  } else if (is.logical(x)) {
    ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else if (is.integer(x)) {
    ifelse(is.na(x), "null", as.character(x))
  } else if (is.numeric(x)) {
    ifelse(is.finite(x), sprintf("%.17g", x), "null")
  } else stop("unsupported type: ", class(x))
  vals <- unname(vals)
  if (as_array) paste0("[", paste(vals, collapse = ", "), "]") else vals
}

con <- file(out_path, open = "w", encoding = "UTF-8")
writeLines(to_json(out), con, useBytes = TRUE)
close(con)
cat("wrote", out_path, "\n")
cat("bounded calibration used bounds", bounded$bounds, "\n")
print(unlist(mc_rake)); cat("max |w_cal - w_rake| =", max(abs(w_cal - w_rake)), "\n")
cat("Kish deff =", deff_kish, " n_eff =", n / deff_kish, "\n")
