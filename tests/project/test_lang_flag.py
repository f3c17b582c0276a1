"""--lang de|en chooses the label catalogue's language for maps, figures and notes (issue #17)."""
from __future__ import annotations

import shutil

from geo_cohesion.cli import build_parser, main
from geo_cohesion.labels import label


def test_lang_is_german_by_default_and_checked():
    parser = build_parser()
    for command in ("run", "demo", "compare", "report"):
        args = [command] + ([] if command == "demo" else ["p.yaml"])
        assert parser.parse_args(args).lang == "de"
        assert parser.parse_args([*args, "--lang", "en"]).lang == "en"


def test_unknown_language_is_a_usage_error(capsys):
    try:
        main(["run", "p.yaml", "--lang", "fr"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "invalid choice: 'fr'" in capsys.readouterr().err


def test_run_in_english(small_project, tmp_path, capsys):
    shutil.copytree(small_project.inputs, tmp_path / "inputs")
    config = tmp_path / "inputs" / "project.yaml"
    assert main(["run", str(config), "--out", str(tmp_path / "en"), "--lang", "en", "--quiet"]) == 0
    english = (tmp_path / "en" / "musterstadt.html").read_text(encoding="utf-8")
    german = (small_project.out / "musterstadt.html").read_text(encoding="utf-8")
    assert label("map.title_districts", "en", city="Musterstadt") in english
    assert label("map.title_districts", "de", city="Musterstadt") not in english
    assert label("map.title_districts", "de", city="Musterstadt") in german
    # the notes the run writes itself (estimator, reliability rule, estimator counts) are English too
    for key in ("map.estimator", "rule.unpublished"):
        german_start = label(key, "de").split("{")[0]
        assert german_start in german and german_start not in english, key
    assert label("rule.unpublished", "en").split("{")[0] in english
    # the scatter plots of the index against each indicator (drawn from the direct estimates) are English too
    scatters = sorted((tmp_path / "en" / "figures").glob("musterstadt_index_vs_*.svg"))
    assert scatters
    for path in scatters:
        svg = path.read_text(encoding="utf-8")
        for key in ("figure.association_footer", "figure.correlation"):
            assert label(key, "de").split("{")[0] not in svg and label(key, "en").split("{")[0] in svg, (path, key)
        assert label("radar.index", "en") in svg and label("radar.index", "de") not in svg, path
    capsys.readouterr()
    # the run remembers its language: comparing in German would reuse English results, so it is stale
    assert main(["compare", str(config), "--out", str(tmp_path / "en")]) == 2
    assert "language: en → de" in capsys.readouterr().err
    assert main(["compare", str(config), "--out", str(tmp_path / "en"), "--lang", "en"]) == 0
    capsys.readouterr()
    # the reports are German: an English run writes them from the same cities computed in German, so no English
    # label (map title, layer name) enters them, and 'report --lang en' reuses them
    report = (tmp_path / "en" / "report" / "musterstadt.html").read_text(encoding="utf-8")
    assert label("radar.index", "de") in report and label("radar.index", "en") not in report
    assert label("map.title_districts", "en", city="Musterstadt") not in report
    german_report = (small_project.out / "report" / "musterstadt.html").read_text(encoding="utf-8")
    assert report == german_report
    assert main(["report", str(config), "--out", str(tmp_path / "en"), "--lang", "en"]) == 0
