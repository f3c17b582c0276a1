"""geo-cohesion: where social cohesion is strong or weak inside a city.

The public API follows the pipeline, top to bottom::

    read & validate  -> geo_cohesion.io.tables, geo_cohesion.radar.codebook
    score            -> geo_cohesion.radar.scoring.score_respondents
    weight           -> geo_cohesion.survey.design.SurveyDesign (.rake)
    estimate         -> SurveyDesign.domain_means / geo_cohesion.survey.estimates
    small areas      -> fay_herriot (Fay-Herriot and spatial Fay-Herriot, as R sae)
    need and change  -> need_index, class_stability, weight_sensitivity, change_between_waves
    run a city       -> geo_cohesion.project.run.run_city
"""
from geo_cohesion.errors import InputError
from geo_cohesion.labels import label, labels
from geo_cohesion.radar.codebook import Codebook, load_codebook, load_radar
from geo_cohesion.radar.indicators import Indicator, IndicatorRegistry, indicator_registry
from geo_cohesion.radar.scoring import item_scores, score_respondents
from geo_cohesion.stats.change import change_between_waves
from geo_cohesion.stats.need import class_stability, need_index, weight_sensitivity
from geo_cohesion.survey.calibrate import RakeDiagnostics, kish_deff
from geo_cohesion.survey.design import SurveyDesign
from geo_cohesion.survey.estimates import domain_means, estimates_from_table
from geo_cohesion.survey.sae import FayHerriotResult, fay_herriot, fh_benchmark

__version__ = "0.1.0"

__all__ = [
    "FayHerriotResult", "change_between_waves", "class_stability", "fay_herriot", "fh_benchmark", "need_index",
    "weight_sensitivity",
    "Codebook", "Indicator", "IndicatorRegistry", "InputError", "RakeDiagnostics", "SurveyDesign", "domain_means",
    "estimates_from_table", "indicator_registry", "item_scores", "kish_deff", "label", "labels", "load_codebook",
    "load_radar", "score_respondents", "__version__",
]
