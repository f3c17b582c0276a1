"""The packaged demo assumptions (``demo/assumptions.yaml``), read once."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml


@lru_cache(maxsize=1)
def load_assumptions() -> dict:
    """The packaged demo assumptions (parsed YAML)."""
    text = resources.files("geo_cohesion").joinpath("demo/assumptions.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)
