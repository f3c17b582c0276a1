"""Project configuration: a YAML file describing one or more cities (files + settings).

The demo is such a file (written by :func:`geo_cohesion.demo.synthetic.write_demo_inputs`); a user's own
city uses the same format and the same pipeline. This module turns the file into the validated
settings of :mod:`geo_cohesion.settings` (the one schema; every key is listed in ``docs/config.md``):
it reads the YAML safely, resolves relative paths against the file's folder and adds the file and
line to every message. Unknown keys and wrong types are errors, so a typo never silently falls back
to a default.

The YAML reader is hardened: anchors and aliases (the "billion laughs" expansion) and duplicate
keys are refused, nesting is limited to :data:`~geo_cohesion.settings.YAML_MAX_DEPTH` levels, and every
plain scalar is kept as the text typed (``010`` stays ``"010"``, ``yes`` stays ``"yes"``); numbers
and ``true``/``false`` are parsed only where a key is numeric or boolean.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from geo_cohesion.errors import InputError
from geo_cohesion.settings import (
    YAML_MAX_DEPTH,
    BoundariesSpec,
    CityConfig,
    CompareSpec,
    EstimateSpec,
    IndicatorSpec,
    MapSpec,
    PopulationSpec,
    ProjectConfig,
    ScoresSpec,
    SettingsError,
    StructuralSpec,
    SurveySpec,
    WeightingSpec,
    validate_project,
)

__all__ = [
    "BoundariesSpec", "CityConfig", "CompareSpec", "EstimateSpec", "IndicatorSpec", "MapSpec", "PopulationSpec",
    "ProjectConfig", "ScoresSpec", "StructuralSpec", "SurveySpec", "WeightingSpec", "load_project",
    "load_yaml_text", "project_from_dict",
]


class YAMLRefused(yaml.YAMLError):
    """Valid YAML that a project file must not use (aliases, duplicate keys, deep nesting)."""

    def __init__(self, problem: str, mark: yaml.Mark | None, hint: str) -> None:
        super().__init__(problem)
        self.problem, self.problem_mark, self.hint = problem, mark, hint


class _ProjectLoader(yaml.SafeLoader):
    """SafeLoader that keeps plain scalars as text and refuses aliases, duplicate keys and deep nesting."""

    yaml_implicit_resolvers: dict = {}  # no implicit int/float/bool/timestamp: the text as typed

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise YAMLRefused("aliases (*name) are not allowed in a project file", self.peek_event().start_mark,
                              "write the values out in full instead of referring to an anchor")
        event = self.peek_event()
        if getattr(event, "anchor", None) is not None:
            raise YAMLRefused("anchors (&name) are not allowed in a project file", event.start_mark,
                              "remove the '&' anchor and write every value out in full")
        self._depth += 1
        try:
            if self._depth > YAML_MAX_DEPTH:
                raise YAMLRefused(f"nested more than {YAML_MAX_DEPTH} levels deep", event.start_mark,
                                  "a project file needs only a few levels; check the brackets and indentation")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                line = key_node.start_mark.line + 1
                if key_node.value in seen:
                    raise YAMLRefused(f"duplicate key '{key_node.value}' (first on line {seen[key_node.value]})",
                                      key_node.start_mark, "write each key once; remove or rename one of them")
                seen[key_node.value] = line
                if key_node.value == "path" and isinstance(value_node, yaml.ScalarNode):
                    value_node.keep_form = True  # a file name is looked up as typed
        return super().construct_mapping(node, deep=deep)

    def construct_scalar(self, node):
        """Text in composed form (NFC): a name typed on a Mac ('ö' as o + combining mark) matches the tables'."""
        value = super().construct_scalar(node)
        if isinstance(value, str) and not getattr(node, "keep_form", False):
            return unicodedata.normalize("NFC", value)
        return value


# Only null stays implicit: ~, null and an empty value mean "empty".
_ProjectLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                                     ["~", "n", "N", ""])


def load_yaml_text(text: str) -> tuple[Any, yaml.Node | None]:
    """Parse a project file's text with the hardened loader.

    Returns
    -------
    data : Any
        The document; plain scalars are text (``str``), ``None`` for ``~``/``null``/empty.
    node : yaml.Node or None
        The composed node tree (for the line numbers of keys).

    Raises
    ------
    yaml.YAMLError
        Invalid YAML, or :class:`YAMLRefused` for aliases, anchors, duplicate keys, deep nesting.
    """
    loader = _ProjectLoader(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    finally:
        loader.dispose()


def _line_of(node: yaml.Node | None, location: tuple) -> int | None:
    """Line (1-based) of the deepest key or item of ``location`` found in the YAML node tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)),
                         None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _config_text(path: Path) -> str:
    """The project file's text (UTF-8, with or without byte-order mark); an error names the line otherwise."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        byte, line = data[exc.start], data.count(b"\n", 0, exc.start) + 1
        guess = f", {bytes([byte]).decode('cp1252')!r} in Windows-1252" if byte >= 0xA0 else ""
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            guess = ", UTF-16"
        raise InputError(f"the configuration file is not UTF-8 text (byte 0x{byte:02x}{guess})", f"{path}, line {line}",
                         "save it as UTF-8 (in the editor: 'Save as', encoding UTF-8)") from None


def load_project(path: str | Path) -> ProjectConfig:
    """Read and validate a project YAML file.

    Raises
    ------
    InputError
        Missing file, invalid or refused YAML, unknown keys, wrong types or values out of range, a
        city with neither survey nor scores; the message names the file and line.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder, not a configuration file", str(path), "give the path of the project YAML file")
    if not path.is_file():
        raise InputError("configuration file not found", str(path), "check the path of the project YAML file")
    try:
        raw, node = load_yaml_text(_config_text(path))
    except YAMLRefused as exc:
        mark = exc.problem_mark
        raise InputError(exc.problem, f"{path}, line {mark.line + 1}" if mark is not None else str(path),
                         exc.hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(path)
        what = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise InputError(f"not valid YAML: {what}", where,
                         "check the indentation (spaces, not tabs), colons and closing brackets or quotes "
                         "at or just before this line") from None
    try:
        return project_from_dict(raw, base_dir=path.parent)
    except SettingsError as exc:
        line = _line_of(node, exc.location)
        exc.source = exc.source or (f"{path}, line {line}" if line is not None else str(path))
        raise
    except InputError as exc:
        exc.source = exc.source or str(path)
        raise


def project_from_dict(raw: Any, base_dir: Path | None = None) -> ProjectConfig:
    """Build a validated :class:`ProjectConfig` from a parsed project file (see :func:`load_project`).

    Parameters
    ----------
    raw : mapping
        The parsed file; values may be text (as from :func:`load_yaml_text`) or Python numbers.
    base_dir : Path, optional
        Folder relative paths are resolved against; the working directory when None.

    Raises
    ------
    InputError
        The first problem, with the key as a path (``cities[0].weighting.bounds``) and a hint.
    """
    look_alike = [k for k in raw if str(k).strip().lower() == "cities"] if isinstance(raw, dict) else []
    if look_alike and "cities" not in raw:
        raise SettingsError(f"unknown key {look_alike[0]!r} at the top level; did you mean 'cities'?",
                            hint="write the key in lower case, as 'cities:'", location=(look_alike[0],))
    if not isinstance(raw, dict) or not isinstance(raw.get("cities"), list) or not raw["cities"]:
        raise InputError("the configuration needs a non-empty list 'cities'",
                         hint="list each city under 'cities:' as '- name: ...' with its files "
                              "(see README 'Your own city')")
    return validate_project(raw, base_dir=base_dir)
