"""A city whose structural table uses its own column names gets its indicators everywhere: map
layers, the bivariate layer, association rows and scatter plots, under its own labels."""
from __future__ import annotations

import copy
import json
import re

import pandas as pd
import pytest
import yaml

from geo_cohesion.cli import main
from geo_cohesion.errors import InputError
from geo_cohesion.maps.classify import SEQUENTIAL
from geo_cohesion.project.config import project_from_dict
from geo_cohesion.settings import IndicatorSpec, override

DECLARED = {"transferbezug_pct": {"label": "Transferbezug (SGB II/XII)", "unit": "%",
                                  "direction": "higher_is_worse", "role": "deprivation"},
            "arbeitslose_pct": {"label": "Arbeitslose", "unit": "%", "direction": "higher_is_worse"},
            "einwohner": {"role": "population"}}


@pytest.fixture(scope="module")
def own_city(tmp_path_factory):
    """Lippstadt's demo inputs with the structural table of a city that names columns its own way."""
    from geo_cohesion.demo.synthetic import write_demo_inputs

    inputs = tmp_path_factory.mktemp("own_inputs")
    write_demo_inputs(inputs)
    raw = yaml.safe_load((inputs / "project.yaml").read_text(encoding="utf-8"))
    city = next(c for c in raw["cities"] if c["slug"] == "lippstadt")
    table = pd.read_csv(inputs / "structural_lippstadt.csv", dtype={"district_id": str})
    table = table.rename(columns={"sgb2_share_pct": "transferbezug_pct", "unemployment_pct": "arbeitslose_pct",
                                  "population_total": "einwohner"}).drop(columns=["migration_share_pct"])
    table["kita_quote"] = [float(i % 5) for i in range(len(table))]  # a column nobody described
    table.to_csv(inputs / "strukturdaten.csv", sep=";", decimal=",", index=False)
    city["structural"] = {"path": "strukturdaten.csv", "district_column": "district_id",
                          "name_column": "district_name", "indicators": DECLARED}
    city["groups"] = {}
    city.pop("waves", None)  # the demo's earlier wave and need index name the demo's own columns
    raw.pop("need", None)
    raw["cities"] = [city]
    raw["maps"] = {"figure_formats": ["png"], "figure_variables": ["index", "transferbezug_pct"]}
    raw["estimates"]["min_n"] = 3  # Lippstadt's villages have few respondents: keep every district for the test
    (inputs / "eigene.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return inputs, raw


@pytest.fixture(scope="module")
def own_run(own_city, tmp_path_factory):
    inputs, _ = own_city
    out = tmp_path_factory.mktemp("own_out")
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", str(inputs / "eigene.yaml"), "--out", str(out)]) == 0
    return out, printed.getvalue()


def _payload(html: str) -> dict:
    return json.loads(re.search(r"var DATA = (\{.*?\});\n", html).group(1))


def test_own_columns_become_labelled_map_layers(own_run):
    out, _ = own_run
    layers = {layer["key"]: layer for layer in _payload((out / "lippstadt.html").read_text(encoding="utf-8"))["layers"]}
    structural = {k: (v["label"], v["unit"]) for k, v in layers.items() if v["kind"] == "structural"}
    assert structural == {"transferbezug_pct": ("Transferbezug (SGB II/XII)", "%"),
                          "arbeitslose_pct": ("Arbeitslose", "%"),
                          "kita_quote": ("kita_quote", "")}       # generic: column name, no unit
    # direction drives the palette: "higher is worse" in OrRd (dark red = most deprived), neutral not red
    orrd = {c for colours in SEQUENTIAL["OrRd"].values() for c in colours}
    assert set(layers["transferbezug_pct"]["colours"]) <= orrd
    assert not set(layers["kita_quote"]["colours"]) & orrd


def test_bivariate_layer_from_the_declared_deprivation_role(own_run):
    out, _ = own_run
    layers = {layer["key"]: layer for layer in _payload((out / "lippstadt.html").read_text(encoding="utf-8"))["layers"]}
    bivariate = layers["index__x__transferbezug_pct"]
    assert bivariate["kind"] == "bivariate"
    assert bivariate["label"] == "Gesamtindex Zusammenhalt × Transferbezug (SGB II/XII)"
    assert bivariate["legend"][-1]["label"] == "Zusammenhalt niedrig · Transferbezug (SGB II/XII) hoch"


def test_association_rows_for_every_indicator_with_labels(own_run):
    out, _ = own_run
    assoc = pd.read_csv(out / "tables" / "association_lippstadt.csv")
    index = assoc[assoc["variable"] == "index"].set_index("indicator")
    # every indicator in table order, but not the population
    assert list(index.index) == ["arbeitslose_pct", "transferbezug_pct", "kita_quote"]
    assert index["indicator_label"].tolist() == ["Arbeitslose", "Transferbezug (SGB II/XII)", "kita_quote"]
    assert index.loc["transferbezug_pct", "r"] < 0


def test_figures_follow_the_explicit_list_and_every_indicator_gets_a_scatter(own_run):
    out, _ = own_run
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"lippstadt_index.png", "lippstadt_transferbezug_pct.png"} <= figures
    assert "lippstadt_arbeitslose_pct.png" not in figures and "lippstadt_verbundenheit.png" not in figures
    assert {f"lippstadt_index_vs_{c}.png" for c in ("transferbezug_pct", "arbeitslose_pct", "kita_quote")} <= figures


def test_the_undeclared_column_is_reported(own_run):
    out, printed = own_run
    assert "note: no label declared for column 'kita_quote'" in printed
    meta = json.loads((out / "tables" / "metadata.json").read_text(encoding="utf-8"))
    record = meta["structural_indicators"]["Lippstadt"]
    assert [i["column"] for i in record["indicators"]] == ["einwohner", "arbeitslose_pct", "transferbezug_pct",
                                                           "kita_quote"]
    assert [i["origin"] for i in record["indicators"]] == ["declared", "declared", "declared", "generic"]
    assert any("kita_quote" in n for n in record["notes"])


@pytest.fixture(scope="module")
def own_result(own_city):
    from geo_cohesion.project.run import run_city

    inputs, raw = own_city
    project = project_from_dict(raw, base_dir=inputs)
    return project, run_city(project.cities[0], project)


def test_unknown_explicit_indicator_is_an_input_error(own_result):
    from geo_cohesion.project.analysis import compare_city

    project, result = own_result
    project = copy.deepcopy(project)
    project = override(project, {"compare": {"indicators": ["arbeitslose_pct", "sgb2_share_pct"]}})
    with pytest.raises(InputError) as info:
        compare_city(result, project)
    assert "unknown indicator(s) 'sgb2_share_pct'" in str(info.value)
    assert "einwohner, arbeitslose_pct, transferbezug_pct, kita_quote" in info.value.hint
    project = override(project, {"compare": {"indicators": ["arbeitslose_pct"]}})
    assert set(compare_city(result, project).association["indicator"]) == {"arbeitslose_pct"}


def test_unknown_figure_variable_is_an_input_error(own_result):
    from geo_cohesion.project.inputs import read_city_boundaries
    from geo_cohesion.project.run import align_boundary_districts, city_maps, figure_variables

    project, result = own_result
    project = copy.deepcopy(project)
    project = override(project, {"maps": {"figure_variables": ["index", "sgb2_share_pct"]}})
    boundaries = align_boundary_districts(result, project, read_city_boundaries(result.city, project))
    with pytest.raises(InputError) as info:
        city_maps(result, project, boundaries)
    assert "maps.figure_variables: unknown variable(s) 'sgb2_share_pct'" in str(info.value)
    assert "transferbezug_pct" in info.value.hint and "index__deviation" in info.value.hint
    project = override(project, {"maps": {"figure_variables": ["index__deviation", "transferbezug_pct"]}})  # any layer
    (_, city_map), = city_maps(result, project, boundaries)
    assert figure_variables(city_map, project.maps.figure_variables) == ["index__deviation", "transferbezug_pct"]


def test_without_a_deprivation_indicator_the_bivariate_layer_is_skipped_with_a_note(own_result):
    from geo_cohesion.project.inputs import read_city_boundaries, structural_indicators
    from geo_cohesion.project.run import align_boundary_districts, city_maps

    project, result = own_result
    project = copy.deepcopy(project)
    structural = project.cities[0].structural.model_copy(
        update={"indicators": {**DECLARED, "transferbezug_pct": IndicatorSpec(role=None)}})
    project = project.model_copy(update={"cities": (project.cities[0].model_copy(update={"structural": structural}),)})
    registry, structural = structural_indicators(project.cities[0], result.structural)
    result = copy.copy(result)
    result.city, result.indicators, result.structural = project.cities[0], registry, structural
    boundaries = align_boundary_districts(result, project, read_city_boundaries(result.city, project))
    (_, city_map), = city_maps(result, project, boundaries)
    assert not any(layer.kind == "bivariate" for layer in city_map.layers)
    assert any("bivariate map" in m and "role: deprivation" in m for m in city_map.messages)


def test_bad_indicator_declarations_fail_when_the_project_is_read(own_city):
    inputs, raw = own_city
    broken = copy.deepcopy(raw)
    broken["cities"][0]["structural"]["indicators"] = {"arbeitslose_pct": {"direction": "hoch"}}
    with pytest.raises(InputError, match=r"cities\[0\]\.structural\.indicators\.arbeitslose_pct\.direction"):
        project_from_dict(broken, base_dir=inputs)
    broken["cities"][0]["structural"]["indicators"] = ["arbeitslose_pct"]
    with pytest.raises(InputError, match="must be a mapping"):
        project_from_dict(broken, base_dir=inputs)
