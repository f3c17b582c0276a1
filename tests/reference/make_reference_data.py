"""Generate the small synthetic survey used for the R `survey` reference values.

This script is the single source of truth for ``survey_small.csv`` and
``margins_small.csv``.  It is fully deterministic (numpy ``default_rng(12345)``
and fixed text formatting), so running it twice yields byte-identical files.

Design
------
* Two strata: ``A`` (main sample, all districts d1..d6) and ``B`` (boost
  sample, only districts d5 and d6).
* Stratum populations (adults): N_A = 10500, N_B = 1500 (total 12000).
  Sample sizes n_A = 180, n_B = 60, so design weights are N_h / n_h:
  A -> 58.333..., B -> 25.
* Outcomes y1, y2, y3 on 0..100 depend on age group and district (so raking
  to the margins changes the estimates).  y2 has ~8 % missing values (written
  as empty cells); y1 and y3 are complete.
* ``margins_small.csv`` holds population totals for age_group, gender and
  district; every margin sums to 12000 and deliberately differs from the
  (weighted) sample composition.

Usage:  python tests/reference/make_reference_data.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 12345

N_POP = {"A": 10500, "B": 1500}
N_SAMPLE = {"A": 180, "B": 60}

DISTRICTS = ["d1", "d2", "d3", "d4", "d5", "d6"]
AGE_GROUPS = ["18-34", "35-49", "50-64", "65+"]
GENDERS = ["weiblich", "männlich"]

# Sample composition (deliberately older / more female / different district
# mix than the population margins below).
P_DISTRICT_A = [0.20, 0.20, 0.18, 0.16, 0.13, 0.13]
P_DISTRICT_B = [0.5, 0.5]  # d5, d6
P_AGE = [0.17, 0.23, 0.29, 0.31]
P_WEIBLICH = 0.58

# Population margins (each sums to 12000).
MARGINS = {
    "age_group": {"18-34": 3400, "35-49": 3000, "50-64": 3100, "65+": 2500},
    "gender": {"weiblich": 6100, "männlich": 5900},
    "district": {"d1": 2600, "d2": 2300, "d3": 2100, "d4": 1900, "d5": 1700, "d6": 1400},
}

AGE_EFFECT = {"y1": [-12.0, -4.0, 4.0, 12.0], "y2": [10.0, 4.0, -3.0, -9.0], "y3": [-6.0, 0.0, 3.0, 6.0]}
DISTRICT_EFFECT = {
    "y1": [8.0, 4.0, 0.0, -3.0, -6.0, -9.0],
    "y2": [-5.0, 0.0, 3.0, 5.0, 8.0, 10.0],
    "y3": [4.0, -4.0, 6.0, -6.0, 2.0, -2.0],
}
BASE = {"y1": 55.0, "y2": 45.0, "y3": 60.0}
NOISE_SD = {"y1": 12.0, "y2": 15.0, "y3": 10.0}
FEMALE_EFFECT = {"y1": 3.0, "y2": -2.0, "y3": 0.0}
P_MISSING_Y2 = 0.08


def generate(rng: np.random.Generator) -> list[dict]:
    rows: list[dict] = []
    for stratum in ("A", "B"):
        n_h = N_SAMPLE[stratum]
        if stratum == "A":
            d_idx = rng.choice(6, size=n_h, p=P_DISTRICT_A)
        else:
            d_idx = 4 + rng.choice(2, size=n_h, p=P_DISTRICT_B)
        a_idx = rng.choice(4, size=n_h, p=P_AGE)
        female = rng.random(n_h) < P_WEIBLICH
        noise = {y: rng.normal(0.0, NOISE_SD[y], size=n_h) for y in ("y1", "y2", "y3")}
        miss_y2 = rng.random(n_h) < P_MISSING_Y2
        weight = N_POP[stratum] / n_h
        for i in range(n_h):
            row = {
                "stratum": stratum,
                "district": DISTRICTS[d_idx[i]],
                "age_group": AGE_GROUPS[a_idx[i]],
                "gender": GENDERS[0] if female[i] else GENDERS[1],
                "design_weight": weight,
            }
            for y in ("y1", "y2", "y3"):
                val = (
                    BASE[y]
                    + AGE_EFFECT[y][a_idx[i]]
                    + DISTRICT_EFFECT[y][d_idx[i]]
                    + (FEMALE_EFFECT[y] if female[i] else 0.0)
                    + noise[y][i]
                )
                val = float(np.clip(np.round(val, 1), 0.0, 100.0))
                row[y] = None if (y == "y2" and miss_y2[i]) else val
            rows.append(row)
    for k, row in enumerate(rows, start=1):
        row["resp_id"] = k
    return rows


def check(rows: list[dict]) -> None:
    for s in ("A", "B"):
        assert sum(r["stratum"] == s for r in rows) >= 2
    for col, cats in (("district", DISTRICTS), ("age_group", AGE_GROUPS), ("gender", GENDERS)):
        for c in cats:
            assert sum(r[col] == c for r in rows) >= 2, (col, c)
    for d in DISTRICTS:
        # at least a few non-missing y2 per district so district SEs exist
        assert sum(r["district"] == d and r["y2"] is not None for r in rows) >= 3, d
    assert all(r["district"] in ("d5", "d6") for r in rows if r["stratum"] == "B")
    for m in MARGINS.values():
        assert sum(m.values()) == sum(N_POP.values())


def fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if v != int(v) or "e" in repr(v) else f"{v:.1f}"
    return str(v)


def write(rows: list[dict]) -> None:
    cols = ["resp_id", "stratum", "district", "age_group", "gender", "design_weight", "y1", "y2", "y3"]
    with open(HERE / "survey_small.csv", "w", encoding="utf-8", newline="\n") as fh:
        fh.write(",".join(cols) + "\n")
        for r in rows:
            fh.write(",".join(fmt(r[c]) for c in cols) + "\n")
    with open(HERE / "margins_small.csv", "w", encoding="utf-8", newline="\n") as fh:
        fh.write("variable,category,population\n")
        for var, cats in MARGINS.items():
            for cat, pop in cats.items():
                fh.write(f"{var},{cat},{pop}\n")


def main() -> None:
    rng = np.random.default_rng(SEED)
    rows = generate(rng)
    check(rows)
    write(rows)
    print(f"wrote {len(rows)} respondents to {HERE / 'survey_small.csv'}")
    print(f"wrote margins to {HERE / 'margins_small.csv'}")


if __name__ == "__main__":
    main()
