"""What the reports and exports are built from: plain data and settings objects.

The report stage never reads the project configuration or input files; the pipeline
(:mod:`geo_cohesion.project.reporting`) fills these objects from its results.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from geo_cohesion.io.write import FIXED_DATE

#: Languages the city reports and district profiles are written in. Only German: they go into
#: applications for the federal programme "Sozialer Zusammenhalt", and their sentences are German
#: text (:mod:`geo_cohesion.report.text`), not entries of the label catalogue. A run in another
#: language computes the report inputs a second time in German (``project.run.run_project``), so
#: that its English map legends and notes do not end up in a German report.
REPORT_LANGUAGES: tuple[str, ...] = ("de",)

if TYPE_CHECKING:
    import geopandas as gpd

    from geo_cohesion.maps.layers import CityMap


@dataclass(frozen=True)
class ReportSettings:
    """Project-wide settings the reports state (and nothing else).

    Attributes
    ----------
    title : str
        Survey / project title (data source line).
    note : str, optional
        Note on every output, e.g. ``"synthetische Demodaten"``.
    survey_period : str, optional
        ISO interval ``"2017-03-27/2017-05-23"`` or free text.
    level : float
        Confidence level of all intervals.
    min_n : int
        Suppression threshold of direct estimates (respondents).
    max_ci_halfwidth : float, optional
        Values whose interval half-width exceeds this many points are not published (None: no
        interval rule); see :func:`geo_cohesion.survey.reliability.unpublished_when`.
    alpha : float
        Significance level of the comparisons.
    adjust : str
        Multiple-testing correction (``holm``, ``fdr_bh``, ``none``).
    contiguity : str
        Spatial neighbours (``queen``/``rook``).
    permutations : int
        Permutations of Moran's I / LISA.
    rank_draws : int
        Simulation draws of the rank intervals.
    seed : int
    created : datetime
        Date written into PDF and workbook metadata (fixed: same inputs, same bytes).
    pdf : bool
        Also write PDF reports (needs the ``typst`` package).
    workers : int
        Processes writing the district profiles and city reports: 0 = one per available core,
        1 = one document after another (the files are the same).
    """

    title: str = "Radar gesellschaftlicher Zusammenhalt"
    note: str | None = None
    survey_period: str | None = None
    level: float = 0.95
    min_n: int = 30
    max_ci_halfwidth: float | None = 10.0
    alpha: float = 0.05
    adjust: str = "holm"
    contiguity: str = "queen"
    permutations: int = 999
    rank_draws: int = 10_000
    seed: int = 0
    created: dt.datetime = FIXED_DATE
    pdf: bool = True
    workers: int = 0


@dataclass
class CityReportInput:
    """Everything computed for one city that reports and exports show.

    Attributes
    ----------
    name, slug : str
        City name and its file-name-safe slug.
    district_estimates : DataFrame
        ``district_id, district_name, variable, estimate, se, ci_low, ci_high, n, suppressed`` (and
        optionally ``n_eff, estimator, mse, direct_estimate, direct_se, df``).
    city_estimates : DataFrame, optional
        ``variable, estimate, se, ci_low, ci_high, n`` (microdata only).
    structural : DataFrame, optional
        One row per district: ``district_id`` and indicator columns (``population_total``,
        ``sgb2_share_pct`` ...).
    comparison, spatial, lisa, association, spread, variance : DataFrame, optional
        The comparison tables (:class:`geo_cohesion.project.analysis.CityComparison`).
    city_map : CityMap, optional
        Boundaries and classified layers (maps, locator maps, GeoPackage style).
    need : DataFrame, optional
        ``district_id, need_score, need_class, contribution_*`` and, from
        :func:`geo_cohesion.stats.need.class_stability`, ``class_stability, flag_unstable,
        need_score_low, need_score_high``; ``.attrs`` as written by those functions.
    change : DataFrame, optional
        :func:`geo_cohesion.stats.change.change_between_waves` output with ``district_id``.
    diagnostics : dict
        Weighting diagnostics.
    weighting : dict
        ``method`` ("raking" or "none": weights as given), ``margins`` and ``bounds`` of the raking, for the
        methods section.
    notes : list of str
        Every note the maps show (data note, boundary note, repairs, islands).
    data_note : str, optional
        The city's data note (``"synthetische Demodaten"``).
    """

    name: str
    slug: str
    district_estimates: pd.DataFrame
    city_estimates: pd.DataFrame | None = None
    structural: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    spatial: pd.DataFrame | None = None
    lisa: pd.DataFrame | None = None
    association: pd.DataFrame | None = None
    spread: pd.DataFrame | None = None
    variance: pd.DataFrame | None = None
    city_map: CityMap | None = None
    boundaries: gpd.GeoDataFrame | None = None
    need: pd.DataFrame | None = None
    change: pd.DataFrame | None = None
    diagnostics: dict = field(default_factory=dict)
    weighting: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data_note: str | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def rows_of(self, table: str, district_id: str) -> pd.DataFrame | None:
        """Rows of ``district_estimates`` or ``comparison`` for one district, indexed by variable (cached)."""
        key = ("rows", table)
        if key not in self._cache:
            frame = getattr(self, table)
            self._cache[key] = None if frame is None else {
                str(d): g.set_index("variable") for d, g in frame.groupby(frame["district_id"].astype(str), sort=False)}
        groups = self._cache[key]
        return None if groups is None else groups.get(str(district_id))

    @property
    def is_synthetic(self) -> bool:
        """True for the demo's synthetic data (the reports then carry the label)."""
        return any("synthetisch" in (n or "").lower() for n in [self.data_note, *self.notes])
