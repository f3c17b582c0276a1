"""Typed, validated settings (geo_cohesion.settings) and the hardened project-file reader (project.config)."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pydantic
import pytest

from geo_cohesion.cli import main
from geo_cohesion.errors import InputError
from geo_cohesion.project.config import load_project, load_yaml_text, project_from_dict
from geo_cohesion.settings import (
    ADJUSTMENTS,
    CONTIGUITIES,
    SCHEMES,
    CityConfig,
    CompareSpec,
    EstimateSpec,
    MapSpec,
    ProjectConfig,
    WeightingSpec,
    check_value,
    markdown,
    override,
)

REPO = Path(__file__).resolve().parents[1]
CITY = {"name": "Teststadt", "survey": {"path": "s.csv"}, "population": {"path": "p.csv"}}


def project(**top) -> dict:
    """A minimal valid project file (parsed), with ``top`` keys added."""
    return {"cities": [dict(CITY)], **top}


def error_of(raw: dict) -> InputError:
    with pytest.raises(InputError) as info:
        project_from_dict(raw)
    return info.value


def write(tmp_path: Path, text: str, name: str = "project.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Defaults and derived values


def test_defaults_are_the_documented_ones():
    p = project_from_dict(project())
    assert p.schema_version == 1 and p.seed == 0 and p.title == "Radar gesellschaftlicher Zusammenhalt"
    assert p.note is None and p.survey_period is None
    assert (p.estimates.level, p.estimates.min_n, p.estimates.estimator, p.estimates.merge_small,
            p.estimates.merge_min_n) == (0.95, 30, "fay_herriot", False, 30)
    m = p.maps
    assert (m.scheme, m.k, m.breaks, m.offline, m.tolerance_m, m.allow_missing, m.figures) == \
        ("quantiles", 5, None, True, 5.0, False, True)
    assert list(m.figure_formats) == ["png", "pdf"] and m.figure_variables is None and m.figure_workers == 0
    c = p.compare
    assert (c.alpha, c.adjust, c.contiguity, c.permutations, c.rank_draws) == (0.05, "holm", "queen", 999, 10_000)
    assert c.indicators is None  # every registered indicator
    city = p.cities[0]
    assert city.slug == "teststadt" and city.groups == {}
    assert city.weighting == WeightingSpec() and list(city.weighting.margins) == ["age_group", "gender", "district_id"]
    assert city.survey.district_column == "district_id" and city.survey.min_valid_share == 0.5


def test_scores_only_city_gets_no_weighting():
    p = project_from_dict({"cities": [{"name": "X", "scores": {"path": "s.csv"}}]})
    assert p.cities[0].weighting is None and p.cities[0].scores.se_column == "se"


def test_models_are_frozen():
    p = project_from_dict(project())
    with pytest.raises(pydantic.ValidationError):
        p.maps.figures = False
    with pytest.raises(pydantic.ValidationError):
        p.cities[0].slug = "x"


def test_base_dir_resolves_paths_and_is_no_key(tmp_path):
    p = project_from_dict(project(), base_dir=tmp_path)
    assert p.base_dir == tmp_path and p.resolve("a.csv") == tmp_path / "a.csv"
    assert p.resolve("/abs/a.csv") == Path("/abs/a.csv")
    err = error_of(project(base_dir="/etc"))
    assert "unknown key(s) 'base_dir'" in err.message and "allowed:" in err.hint


def test_schema_version_absent_one_or_unsupported():
    assert project_from_dict(project(schema_version="1")).schema_version == 1
    err = error_of(project(schema_version=2))
    assert "schema_version 2 is not supported" in err.message and "schema_version 1" in err.message


def test_indicator_registry_and_estimator_keys():
    raw = project(estimates={"estimator": "spatial_fay_herriot", "merge_small": "true", "merge_min_n": "20"})
    raw["cities"][0]["structural"] = {"path": "st.csv", "indicators": {
        "sgb2_share_pct": {"label": "SGB-II-Quote", "unit": "%", "direction": "higher_is_worse", "role": "deprivation"},
        "area_km2": {"label": "Fläche"}}}
    p = project_from_dict(raw)
    indicators = p.cities[0].structural.indicators
    assert indicators["sgb2_share_pct"].direction == "higher_is_worse" and indicators["sgb2_share_pct"].unit == "%"
    # fields left out stay empty, so the indicator registry fills them (known catalogue, role, neutral)
    assert (indicators["area_km2"].unit, indicators["area_km2"].direction, indicators["area_km2"].role) == \
        (None, None, None)
    assert indicators["area_km2"].model_fields_set == {"label"}
    assert (p.estimates.estimator, p.estimates.merge_small, p.estimates.merge_min_n) == \
        ("spatial_fay_herriot", True, 20)


# ---------------------------------------------------------------------------------------------
# Ranges: each bad value is one InputError naming the key as a path, with a hint


BAD = [
    ("estimates", "level", 0, "estimates.level"), ("estimates", "level", 1, "estimates.level"),
    ("estimates", "level", 95, "estimates.level"), ("estimates", "level", "nan", "estimates.level"),
    ("estimates", "min_n", -1, "estimates.min_n"), ("estimates", "min_n", 2.5, "estimates.min_n"),
    ("estimates", "min_n", True, "estimates.min_n"),
    ("estimates", "estimator", "ebp", "estimates.estimator"), ("estimates", "merge_min_n", 1, "estimates.merge_min_n"),
    ("compare", "alpha", 0, "compare.alpha"), ("compare", "alpha", 1.5, "compare.alpha"),
    ("compare", "rank_draws", 99, "compare.rank_draws"),
    ("compare", "permutations", -5, "compare.permutations"), ("compare", "permutations", 0, "compare.permutations"),
    ("compare", "permutations", 98, "compare.permutations"),
    ("compare", "adjust", "bonferroni", "compare.adjust"), ("compare", "contiguity", "bishop", "compare.contiguity"),
    ("maps", "k", 1, "maps.k"), ("maps", "k", 10, "maps.k"),
    ("maps", "scheme", "jenks", "maps.scheme"),
    ("maps", "figure_formats", ["jpg"], "maps.figure_formats[0]"),
    ("maps", "figure_formats", [], "maps.figure_formats"),
    ("maps", "figure_formats", ["png", "png"], "maps.figure_formats"),
    ("maps", "figure_formats", "png", "maps.figure_formats"),
    ("maps", "tolerance_m", -1, "maps.tolerance_m"), ("maps", "offline", "maybe", "maps.offline"),
]


@pytest.mark.parametrize(("section", "key", "value", "path"), BAD, ids=[f"{s}.{k}={v!r}" for s, k, v, _ in BAD])
def test_value_out_of_range_is_one_clear_error(section, key, value, path):
    err = error_of(project(**{section: {key: value}}))
    assert err.message.startswith(path), err.message
    assert err.hint
    text = str(err)
    assert "\n" not in text and "pydantic" not in text and "validation error" not in text.lower()


def test_seed_range():
    for bad in (-1, 2**32, "x", 1.5):
        assert error_of(project(seed=bad)).message.startswith("seed ")
    assert project_from_dict(project(seed=2**32 - 1)).seed == 2**32 - 1


@pytest.mark.parametrize("breaks", [[60, 50], [50, 50], [50, ".inf"], [50, "nan"], [], ["a"]])
def test_breaks_must_be_strictly_increasing_finite_numbers(breaks):
    err = error_of(project(maps={"scheme": "user", "breaks": breaks}))
    assert err.message.startswith("maps.breaks"), err.message


def test_breaks_and_user_scheme_go_together():
    assert error_of(project(maps={"scheme": "user"})).message.startswith("maps: scheme 'user' needs breaks")
    assert "only used with scheme 'user'" in error_of(project(maps={"breaks": [50, 60]})).message
    p = project_from_dict(project(maps={"scheme": "user", "breaks": ["50", 60, "70.5"]}))
    assert p.maps.breaks == (50.0, 60.0, 70.5)


@pytest.mark.parametrize("bounds", [[3], [0.5, 0.9], [-0.1, 2], [1, 2], [0.3, 3, 4], ["a", 2]])
def test_weighting_bounds(bounds):
    raw = project()
    raw["cities"][0]["weighting"] = {"bounds": bounds}
    err = error_of(raw)
    assert err.message.startswith("cities[0].weighting.bounds"), err.message


@pytest.mark.parametrize(("key", "value"), [("max_iter", 0), ("tol", 0), ("tol", -1e-3), ("margins", [])])
def test_weighting_ranges(key, value):
    raw = project()
    raw["cities"][0]["weighting"] = {key: value}
    assert error_of(raw).message.startswith(f"cities[0].weighting.{key}")


def test_accepted_edges():
    p = project_from_dict(project(compare={"alpha": 0.5, "permutations": 99, "rank_draws": 100},
                                  maps={"k": 9, "tolerance_m": 0, "figure_formats": ["svg"]},
                                  estimates={"min_n": 0, "level": "0.5"}))
    assert (p.compare.permutations, p.compare.rank_draws, p.maps.k, p.estimates.min_n) == (99, 100, 9, 0)
    assert project_from_dict(project(maps={"k": 2})).maps.k == 2


def test_unknown_keys_list_allowed_keys_and_suggest():
    err = error_of(project(maps={"figure_format": ["png"]}))
    assert err.message == "unknown key(s) 'figure_format' in 'maps'"
    assert "did you mean 'figure_formats'?" in err.hint and "allowed: allow_missing, basemap, breaks" in err.hint
    raw = project()
    raw["cities"][0]["survey"] = {"path": "s.csv", "weights": "w", "strata": "s"}
    err = error_of(raw)
    assert err.message == "unknown key(s) 'weights', 'strata' in 'cities[0].survey'"


def test_several_problems_are_one_message_with_the_others_named():
    err = error_of(project(maps={"k": 1}, compare={"alpha": 2, "permutations": 5}))
    assert err.message.startswith("maps.k") and "(and 2 more problems: compare.alpha, compare.permutations)" in \
        err.message


def test_city_checks():
    assert "needs 'survey' (microdata) or 'scores'" in error_of({"cities": [{"name": "X"}]}).message
    err = error_of({"cities": [{"name": "X", "survey": {"path": "s.csv"}}]})
    assert err.message.startswith("cities[0]: city 'X' has survey microdata but no 'population'")
    assert "needs a name" in error_of({"cities": [{**CITY, "name": "  "}]}).message
    assert "required key 'name' is missing in 'cities[0]'" in error_of({"cities": [{"scores": {"path": "s"}}]}).message
    err = error_of({"cities": [{**CITY, "slug": "../x"}]})
    assert err.message.startswith("cities[0].slug: slug '../x' is not a safe file name") and "slug: x" in err.hint
    err = error_of({"cities": [dict(CITY), {**CITY, "name": "teststadt"}]})
    assert "same name/slug (teststadt)" in err.message
    assert "must be a section" in error_of({"cities": [{**CITY, "survey": "s.csv"}]}).message


def test_group_members_given_as_numbers_become_text():
    p = project_from_dict({"cities": [{**CITY, "groups": {"Nord": [20, "040"]}}]})
    assert p.cities[0].groups == {"Nord": ("20", "040")}
    assert error_of({"cities": [{**CITY, "groups": {"Nord": [1.5]}}]}).message.startswith("cities[0].groups.Nord[0]")


# ---------------------------------------------------------------------------------------------
# The YAML reader


YAML_CITY = """\
cities:
  - name: Teststadt
    survey: {path: s.csv}
    population: {path: p.csv}
"""


def test_ids_stay_text_never_octal(tmp_path):
    p = load_project(write(tmp_path, YAML_CITY + "    groups: {Nord: [010, 020], Süd: [0x1F, 1_000, 08]}\n"
                                       "    boundaries: {path: b.gpkg, id_column: 007}\n"))
    assert p.cities[0].groups == {"Nord": ("010", "020"), "Süd": ("0x1F", "1_000", "08")}
    assert p.cities[0].boundaries.id_column == "007"


def test_yes_no_on_off_stay_words_where_a_name_is_expected(tmp_path):
    p = load_project(write(tmp_path, YAML_CITY.replace("Teststadt", "yes")
                           + "    groups: {yes: [on, off], no: [y, n]}\n    note: off\n"
                             "title: no\nsurvey_period: 2017-03-27\n"))
    assert p.cities[0].name == "yes" and p.cities[0].groups == {"yes": ("on", "off"), "no": ("y", "n")}
    assert p.cities[0].note == "off" and p.title == "no" and p.survey_period == "2017-03-27"


def test_numbers_and_booleans_where_expected(tmp_path):
    p = load_project(write(tmp_path, YAML_CITY + "    weighting: {tol: 1e-10, bounds: [0.3, 3], max_iter: 50}\n"
                                                 "estimates: {level: 0.95, min_n: '25'}\n"
                                                 "maps: {offline: false, figures: false, allow_missing: yes, k: 7}\n"
                                                 "compare: {alpha: \"0.1\"}\nseed: 42\n"))
    assert p.cities[0].weighting.tol == 1e-10 and p.cities[0].weighting.bounds == (0.3, 3.0)
    assert p.cities[0].weighting.max_iter == 50
    assert (p.estimates.level, p.estimates.min_n, p.compare.alpha, p.seed) == (0.95, 25, 0.1, 42)
    assert (p.maps.offline, p.maps.figures, p.maps.allow_missing, p.maps.k) == (False, False, True, 7)


def test_null_and_empty_values(tmp_path):
    p = load_project(write(tmp_path, YAML_CITY.replace("{path: s.csv}", "{path: s.csv, codebook: ~, weight_column:}")
                           + "note: null\n"))
    assert p.cities[0].survey.codebook is None and p.cities[0].survey.weight_column is None and p.note is None
    p = load_project(write(tmp_path, YAML_CITY + "note: '~'\n"))
    assert p.note == "~"


def test_billion_laughs_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = write(tmp_path, "\n".join(lines) + "\ncities: *a9\n")
    start = time.perf_counter()
    with pytest.raises(InputError) as info:
        load_project(path)
    assert time.perf_counter() - start < 1.0
    assert "anchors (&name) are not allowed" in info.value.message and "line 1" in info.value.source


def test_alias_without_anchor_is_refused():
    with pytest.raises(Exception, match="aliases"):
        load_yaml_text("a: 1\nb: *a\n")


@pytest.mark.parametrize("text", ["cities: " + "[" * 5000 + "]" * 5000 + "\n",
                                  "cities: " + "{a: " * 5000 + "x" + "}" * 5000 + "\n",
                                  "".join("  " * i + "- \n" for i in range(300)) + "  " * 300 + "x\n"])
def test_deep_nesting_is_refused_without_recursion_error(tmp_path, text):
    with pytest.raises(InputError) as info:
        load_project(write(tmp_path, text))
    assert "nested more than 20 levels deep" in info.value.message


def test_nesting_of_a_real_file_is_fine(tmp_path):
    text = YAML_CITY + ("    structural:\n      path: st.csv\n      indicators:\n"
                        "        sgb2:\n          label: SGB II\n")
    assert load_project(write(tmp_path, text)).cities[0].structural.indicators["sgb2"].label == "SGB II"


def test_duplicate_keys_are_refused_with_line(tmp_path):
    with pytest.raises(InputError) as info:
        load_project(write(tmp_path, YAML_CITY + "maps: {k: 5}\nseed: 1\nmaps: {k: 6}\n"))
    assert "duplicate key 'maps' (first on line 5)" in info.value.message and info.value.source.endswith("line 7")
    with pytest.raises(InputError, match="duplicate key 'path'"):
        load_project(write(tmp_path, YAML_CITY.replace("{path: s.csv}", "{path: s.csv, path: t.csv}")))


def test_base_dir_key_in_the_file_is_unknown(tmp_path):
    with pytest.raises(InputError) as info:
        load_project(write(tmp_path, YAML_CITY + "base_dir: /etc\n"))
    assert "unknown key(s) 'base_dir'" in info.value.message and info.value.source.endswith("line 5")


def test_messages_name_the_line(tmp_path):
    with pytest.raises(InputError) as info:
        load_project(write(tmp_path, YAML_CITY + "    weighting:\n      bounds: [3]\n"))
    assert info.value.source == f"{tmp_path / 'project.yaml'}, line 6"
    assert info.value.message.startswith("cities[0].weighting.bounds: must be [low, high]")
    with pytest.raises(InputError) as info:
        load_project(write(tmp_path, YAML_CITY + "estimates:\n  min_n: 30\n  level: 95\n"))
    assert info.value.source.endswith("line 7") and "estimates.level must be a number > 0 and < 1, got 95" in \
        info.value.message


def test_explicit_python_tags_are_still_refused(tmp_path):
    with pytest.raises(InputError, match="not valid YAML"):
        load_project(write(tmp_path, YAML_CITY + "title: !!python/object/apply:os.system ['true']\n"))


def test_readme_example_is_a_valid_project():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your own city", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    raw, _ = load_yaml_text(block)
    p = project_from_dict(raw)
    assert p.cities[0].groups == {"Nord": ("01", "02"), "Süd": ("03", "04")}
    assert "docs/config.md" in section


# ---------------------------------------------------------------------------------------------
# Overrides go through the same validation


def test_override_is_validated_and_keeps_base_dir(tmp_path):
    p = project_from_dict(project(), base_dir=tmp_path)
    q = override(p, {"compare": {"alpha": "0.1", "permutations": 199}})
    assert (q.compare.alpha, q.compare.permutations, q.compare.adjust, q.base_dir) == (0.1, 199, "holm", tmp_path)
    assert p.compare.alpha == 0.05  # the original is unchanged
    with pytest.raises(InputError) as info:
        override(p, {"compare": {"alpha": 2}}, {"compare.alpha": "--alpha"})
    assert info.value.message == "--alpha must be a number > 0 and < 1, got 2" and "--alpha 0.05" in info.value.hint
    with pytest.raises(InputError, match="compare.permutations"):
        override(p, {"compare": {"permutations": 0}})


def test_check_value():
    assert check_value(ProjectConfig, "seed", "7") == 7
    with pytest.raises(InputError, match=r"^--seed must be a whole number >= 0"):
        check_value(ProjectConfig, "seed", -1, "--seed")


@pytest.fixture
def config_file(tmp_path) -> Path:
    return write(tmp_path, YAML_CITY)


@pytest.mark.parametrize(("args", "fragment"), [
    (["--alpha", "2"], "--alpha must be a number > 0 and < 1, got 2"),
    (["--alpha", "0"], "--alpha must be a number > 0 and < 1, got 0"),
    (["--permutations", "-5"], "--permutations must be a whole number >= 99, got -5"),
    (["--permutations", "0"], "--permutations must be a whole number >= 99, got 0"),
])
def test_cli_compare_overrides_are_validated(config_file, tmp_path, capsys, args, fragment):
    out = tmp_path / "out"
    assert main(["compare", str(config_file), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and " – " in err
    assert not out.exists()


def test_cli_demo_negative_seed(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["demo", "--seed", "-1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--seed must be a whole number >= 0 and < 4294967296, got -1" in err and not out.exists()


@pytest.mark.parametrize(("args", "fragment"), [
    (["--k", "1"], "--k must be a whole number >= 2 and <= 9, got 1"),
    (["--scheme", "user", "--breaks", "60,50"], "--breaks: must be strictly increasing"),
    (["--scheme", "user", "--breaks", "50,x"], "--breaks[1] must be a number, got 'x'"),
    (["--scheme", "user"], "scheme 'user' needs breaks"),
    (["--min-n", "-3"], "--min-n must be a whole number >= 0, got -3"),
])
def test_cli_map_options_are_validated(tmp_path, capsys, args, fragment):
    out = tmp_path / "m.html"
    assert main(["map", str(tmp_path / "b.gpkg"), str(tmp_path / "s.csv"), "--id-column", "id", "--out", str(out),
                 *args]) == 2
    assert fragment in capsys.readouterr().err and not out.exists()


# ---------------------------------------------------------------------------------------------
# One place for allowed values; docs follow from the schema


def test_allowed_values_have_one_home():
    from geo_cohesion import cli
    from geo_cohesion.maps import classify
    from geo_cohesion.spatial import weights
    from geo_cohesion.stats import multiple_testing

    assert multiple_testing.ADJUSTMENTS is ADJUSTMENTS and weights.CONTIGUITIES is CONTIGUITIES
    assert classify.SCHEMES is SCHEMES
    parser = cli.build_parser()
    choices = {a.dest: a.choices for p in parser._subparsers._group_actions[0].choices.values() for a in p._actions}
    assert tuple(choices["adjust"]) == ADJUSTMENTS and tuple(choices["contiguity"]) == CONTIGUITIES
    assert tuple(choices["scheme"]) == SCHEMES
    assert set(CompareSpec.model_fields["adjust"].annotation.__args__) == set(ADJUSTMENTS)


def test_docs_config_md_is_current():
    committed = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == markdown(), "run: python -m geo_cohesion.settings --markdown > docs/config.md"


def test_docs_name_every_key():
    text = markdown()
    for model in (ProjectConfig, CityConfig, EstimateSpec, MapSpec, CompareSpec):
        for key, field in model.model_fields.items():
            assert f"| `{key}` |" in text and field.description, key
    for key in ("survey_period", "note", "figure_formats", "figure_variables", "indicators", "schema_version"):
        assert f"| `{key}` |" in text


def test_project_file_text_is_composed_but_paths_stay_as_typed():
    """Names typed on a Mac ('ö' as o + combining mark, NFD) become NFC like the tables' text; file names
    are looked up as typed."""
    import unicodedata

    text = "name: Münster\ngroups: {Östliche Stadtteile: [Süd]}\nsurvey: {path: Müll.csv}\n"
    nfd = unicodedata.normalize("NFD", text)
    data, _ = load_yaml_text(nfd)
    assert data["name"] == "Münster" and data["groups"] == {"Östliche Stadtteile": ["Süd"]}
    assert data["survey"]["path"] == unicodedata.normalize("NFD", "Müll.csv")
