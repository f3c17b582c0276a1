"""geo-cohesion: where social cohesion is strong or weak inside a city.

The public API follows the pipeline, top to bottom::

    read & validate  -> geo_cohesion.readers, geo_cohesion.codebook
    score            -> geo_cohesion.scoring.score_respondents
    weight           -> geo_cohesion.weighting.SurveyDesign (.rake)
    estimate         -> SurveyDesign.domain_means / geo_cohesion.estimation
    run a city       -> geo_cohesion.pipeline.run_city
"""
from .codebook import Codebook, load_codebook, load_radar
from .errors import InputError
from .estimation import domain_means, estimates_from_table
from .scoring import item_scores, score_respondents
from .weighting import RakeDiagnostics, SurveyDesign, kish_deff

__version__ = "0.1.0"

__all__ = [
    "Codebook", "InputError", "RakeDiagnostics", "SurveyDesign", "domain_means", "estimates_from_table",
    "item_scores", "kish_deff", "load_codebook", "load_radar", "score_respondents", "__version__",
]
