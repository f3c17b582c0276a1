"""Spatial statistics: contiguity weights, global Moran's I and local Moran (LISA) clusters.

Weights come from libpysal and the statistics from esda, so results are those of the reference
implementations. What this module adds is the handling planners need: islands (districts
without a contiguous neighbour, e.g. across a river) are reported and attached to their nearest
neighbour; districts without a value (suppressed) are left out of the weights; permutation tests
are seeded; local p-values are FDR-controlled; and with few districts the result says that the
test has little power instead of printing a verdict.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import esda
import numpy as np
import pandas as pd

from geo_cohesion.labels import DEFAULT_LANG, label
from geo_cohesion.spatial.weights import SpatialWeights, _subset
from geo_cohesion.stats.multiple_testing import benjamini_hochberg

#: Below this many districts a Moran test has little power; results carry a note instead of a verdict.
MIN_DISTRICTS_FOR_VERDICT = 10
CLUSTER_LABELS = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}
#: esda warns on every ``Moran_Local`` call that the default alternative hypothesis of its
#: conditional randomisation will change; we keep the documented (directed) p-values.
_ESDA_ALTERNATIVE_WARNING = r"The alternative hypothesis for conditional randomization is changing"


@contextlib.contextmanager
def _esda_call() -> Iterator[None]:
    """Around an esda statistic: keep the caller's NumPy global random state and hide only esda's
    known noise.

    esda's conditional randomisation (``Moran_Local(seed=...)``) seeds NumPy's *global* generator
    with the seed it is given (``esda.crand.vec_permutations``); the state is restored afterwards,
    so calling these functions never changes the random numbers a user's own code draws.
    Districts with a constant neighbourhood give 0/0 in esda's simulated z-values (reported as
    NaN), hence the scoped ``np.errstate``.
    """
    state = np.random.get_state()
    try:
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.filterwarnings("ignore", message=_ESDA_ALTERNATIVE_WARNING, category=DeprecationWarning)
            yield
    finally:
        np.random.set_state(state)


def _permutation_test(y: np.ndarray, sw: SpatialWeights, permutations: int, seed: int) -> dict[str, float]:
    """Moran's I with a permutation test drawn from a local generator.

    ``esda.Moran`` draws its permutations from NumPy's global generator and takes no seed, so
    the statistic comes from esda (``permutations=0``) and the permutations from
    ``np.random.RandomState(seed)``, a generator of our own: the permutations, pseudo p-value,
    ``EI_sim`` and ``z_sim`` are exactly those of ``np.random.seed(seed); esda.Moran(y, w)``,
    without touching the global state.
    """
    with _esda_call():
        result = esda.Moran(y, sw.w, permutations=0)
    z = y - y.mean()
    z2ss = float(z @ z)
    scale = len(y) / sw.w.s0 / z2ss
    lag = sw.w.sparse
    rng = np.random.RandomState(seed)
    sim = np.array([scale * (zp * (lag @ zp)).sum() for zp in (rng.permutation(z) for _ in range(permutations))])
    larger = int((sim >= result.I).sum())
    larger = min(larger, permutations - larger)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_sim = (result.I - sim.sum() / permutations) / sim.std()
    return {"moran_i": float(result.I), "expected_i": float(result.EI), "z_sim": float(z_sim),
            "p_value": (larger + 1.0) / (permutations + 1.0)}


def low_power_note(lang: str = DEFAULT_LANG) -> str:
    """The note instead of a verdict when there are fewer than :data:`MIN_DISTRICTS_FOR_VERDICT` districts."""
    return label("note.low_power", lang, min_districts=MIN_DISTRICTS_FOR_VERDICT)


#: :func:`low_power_note` in German (the default language of the tables).
LOW_POWER_NOTE = low_power_note()


def global_moran(values: Sequence[float], sw: SpatialWeights, permutations: int = 999, seed: int = 0,
                 lang: str = DEFAULT_LANG) -> dict:
    """Global Moran's I (esda) with a seeded permutation test.

    Districts with NaN values are dropped (with their links) before the test; ``lang`` is the
    language of the note.

    Returns
    -------
    dict
        ``moran_i, expected_i, z_sim, p_value`` (pseudo p-value of the permutation test,
        one-sided in the direction of the observed I, as esda's ``p_sim``), ``n_districts``,
        ``islands`` (";"-joined ids), ``note``.
    """
    series = pd.Series(np.asarray(values, dtype=float), index=sw.ids)
    present = series.dropna()
    sub = _subset(sw, present.index)
    n = len(present)
    note = "" if n >= MIN_DISTRICTS_FOR_VERDICT else low_power_note(lang)
    base = {"n_districts": n, "islands": ";".join(sub.islands), "weights": sub.kind,
            "island_fallback": sub.fallback, "permutations": permutations}
    if n < 3 or np.ptp(present.to_numpy()) == 0:
        return {"moran_i": np.nan, "expected_i": np.nan, "z_sim": np.nan, "p_value": np.nan, **base,
                "note": label("note.no_spread", lang)}
    test = _permutation_test(present.loc[sub.ids].to_numpy(), sub, permutations, seed)
    return {**test, **base, "note": note}


def local_moran(values: Sequence[float], sw: SpatialWeights, permutations: int = 999, seed: int = 0,
                alpha: float = 0.05, lang: str = DEFAULT_LANG) -> pd.DataFrame:
    """Local Moran's I (esda ``Moran_Local``) with FDR-controlled cluster labels.

    Returns
    -------
    DataFrame
        One row per district in ``sw.ids`` order: ``district_id, local_i, p_value`` (esda
        ``p_sim``), ``q_value`` (Benjamini-Hochberg across districts), ``quadrant`` (HH, LH, LL,
        HL) and ``cluster``: the quadrant where ``q_value < alpha``, else ``"nicht signifikant"``;
        ``"keine Daten"`` for districts without a value; with fewer than 10 districts the
        cluster column says that the test has too little power. These texts come from the label
        catalogue in ``lang`` (``cluster.ns``, ``note.no_data``, ``note.low_power``).
    """
    series = pd.Series(np.asarray(values, dtype=float), index=sw.ids)
    present = series.dropna()
    out = pd.DataFrame({"district_id": sw.ids, "local_i": np.nan, "p_value": np.nan, "q_value": np.nan,
                        "quadrant": "", "cluster": label("note.no_data", lang)})
    sub = _subset(sw, present.index)
    if len(present) < 3 or np.ptp(present.to_numpy()) == 0:
        return out
    with _esda_call():
        result = esda.Moran_Local(present.loc[sub.ids].to_numpy(), sub.w, permutations=permutations, seed=seed)
    q_values = benjamini_hochberg(result.p_sim)
    quadrant = [CLUSTER_LABELS.get(int(q), "") for q in result.q]
    if len(present) < MIN_DISTRICTS_FOR_VERDICT:
        cluster = [low_power_note(lang)] * len(sub.ids)
    else:
        not_significant = label("cluster.ns", lang)
        cluster = [quad if q < alpha else not_significant for quad, q in zip(quadrant, q_values)]
    position = {d: i for i, d in enumerate(sw.ids)}
    rows = [position[d] for d in sub.ids]
    out.loc[rows, "local_i"] = result.Is
    out.loc[rows, "p_value"] = result.p_sim
    out.loc[rows, "q_value"] = q_values
    out.loc[rows, "quadrant"] = quadrant
    out.loc[rows, "cluster"] = cluster
    return out
