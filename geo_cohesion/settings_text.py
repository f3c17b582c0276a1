"""Words for the settings schema: the path of a key, what a value should look like, readable
validation messages and the cells of the reference page (``docs/config.md``). Pure functions on
pydantic models; :mod:`geo_cohesion.settings` defines the models and uses these."""
from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel


def _path(loc: tuple) -> str:
    """``("cities", 0, "weighting", "bounds")`` -> ``cities[0].weighting.bounds``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[\w-]+", str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{str(part)!r}]"
    return text


def location_name(loc: tuple, names: Mapping[str, str]) -> str:
    """The path of ``loc``, with a key renamed as in ``names`` (``compare.alpha`` -> ``--alpha``)."""
    path = _path(loc)
    if "" in names:  # a single value (check_value): its name stands for the key
        return names[""] + path[len(_path(loc[:1])):]
    for i in range(len(loc), 0, -1):
        head = _path(loc[:i])
        if head in names:
            return names[head] + path[len(head):]
    return path


def _shown(value: Any) -> str:
    """A value as the user typed it (numbers without quotes), shortened."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, str):
        try:
            float(value)
            text = value
        except ValueError:
            text = repr(value)
    elif isinstance(value, dict):
        text = "a mapping"
    elif isinstance(value, (list, tuple)):
        text = "a list"
    elif value is None:
        text = "nothing (null)"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _strip(annotation: Any) -> tuple[Any, list, bool]:
    """``annotation`` without Annotated and Optional: (type, metadata, optional)."""
    metadata: list = []
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            args = typing.get_args(annotation)
            annotation, metadata = args[0], metadata + list(args[1:])
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(members) < len(typing.get_args(annotation))
            if len(members) != 1:
                return annotation, metadata, optional
            annotation = members[0]
        else:
            return annotation, metadata, optional


def is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _at(model: type[BaseModel], loc: tuple) -> tuple[Any, list, bool, Any]:
    """What the schema says at ``loc``: (type, metadata, optional, FieldInfo of the last key or None)."""
    annotation: Any = model
    metadata: list = []
    optional = False
    field = None
    for part in loc:
        base, _, _ = _strip(annotation)
        origin = typing.get_origin(base)
        if is_model(base) and isinstance(part, str) and part in base.model_fields:
            field = base.model_fields[part]
            annotation, metadata = field.annotation, list(field.metadata)
        elif origin in (list, tuple) and isinstance(part, int):
            annotation, metadata, field = typing.get_args(base)[0], [], None
        elif origin is dict:
            annotation, metadata, field = typing.get_args(base)[1], [], None
        else:
            return None, [], False, None
    annotation, inner, optional = _strip(annotation)
    return annotation, metadata + inner, optional, field


_WORDS = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}


def _type_words(annotation: Any, plural: bool = False) -> str:
    """What a value of ``annotation`` looks like, in words."""
    base, _, optional = _strip(annotation)
    origin = typing.get_origin(base)
    if origin is Literal:
        text = ("" if plural else "one of ") + ", ".join(
            str(v) if str(v).isidentifier() else f'"{v}"' for v in typing.get_args(base))
    elif origin in (list, tuple):
        text = f"{'lists' if plural else 'a list'} of {_type_words(typing.get_args(base)[0], plural=True)}"
    elif origin is dict:
        key, value = typing.get_args(base)
        text = f"a mapping of {_type_words(key, plural=True)} to {_type_words(value, plural=True)}"
    elif is_model(base):
        text = "sections" if plural else "a section (key: value lines)"
    else:
        text = _WORDS.get(base, getattr(base, "__name__", str(base)))
        if plural:
            text = {"a whole number": "whole numbers", "a number": "numbers", "true or false": "true/false"}.get(
                text, text)
    return text + (" or empty" if optional and not plural else "")


def _range_words(metadata: list, annotation: Any) -> str:
    """The range constraints in words: ``> 0 and < 1``, ``>= 2 and <= 9``, ``non-empty``."""
    parts = []
    for m in metadata:
        for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(m, attr, None)
            if value is not None and isinstance(m, getattr(annotated_types, attr.capitalize())):
                parts.append(f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}")
        if isinstance(m, annotated_types.MinLen) and m.min_length:
            base = _strip(annotation)[0]
            parts.append("non-empty" if base is str or m.min_length == 1 else f"at least {m.min_length} entries")
    return " and ".join(parts)


def expected_text(annotation: Any, metadata: list) -> str:
    words = _type_words(annotation)
    rng = _range_words(metadata, annotation)
    if rng.startswith("non-empty"):
        return f"{words.replace('a list', 'a non-empty list', 1) if 'list' in words else 'non-empty ' + words}"
    return f"{words} {rng}" if rng else words


def _extra(field: Any, key: str) -> str | None:
    extra = getattr(field, "json_schema_extra", None)
    return extra.get(key) if isinstance(extra, dict) else None


def unknown_keys_text(model: type[BaseModel], parent: tuple, keys: list[str]) -> tuple[str, str]:
    base = _at(model, parent)[0]
    allowed = sorted(base.model_fields) if is_model(base) else []
    where = f" in '{_path(parent)}'" if parent else " at the top level"
    message = f"unknown key(s) {', '.join(repr(k) for k in keys)}{where}"
    close = difflib.get_close_matches(keys[0], allowed, n=1, cutoff=0.6)
    hint = (f"did you mean '{close[0]}'? " if close else "") + f"allowed: {', '.join(allowed)}"
    return message, hint


def describe_error(error: dict, model: type[BaseModel], names: Mapping[str, str]) -> tuple[str, str]:
    """Message and hint for one pydantic error."""
    loc = error["loc"]
    ctx = error.get("ctx") or {}
    name = location_name(loc, names)
    if error["type"] == "missing":
        missing = str(loc[-1])
        _, _, _, field = _at(model, loc)
        parent = _path(loc[:-1])
        placeholder = _extra(field, "example") or "..."
        return (f"required key '{missing}' is missing" + (f" in '{parent}'" if parent else ""),
                f"add '{missing}: {placeholder}'")
    if "hint" in ctx:  # our own checks
        return (f"{name}: {error['msg']}" if name else error["msg"]), ctx["hint"]
    annotation, metadata, _, field = _at(model, loc)
    if annotation is None:
        return f"{name}: {error['msg']}", "see docs/config.md for the keys and their values"
    expected = expected_text(annotation, metadata)
    if error["type"] == "literal_error":
        message = f"{name} must be {expected}, got {_shown(error['input'])}"
        close = difflib.get_close_matches(str(error["input"]), [str(v) for v in typing.get_args(annotation)], n=1)
        return message, f"did you mean '{close[0]}'?" if close else "write one of these"
    message = f"{name} must be {expected}, got {_shown(error['input'])}"
    if is_model(annotation):
        return message, "write it as 'key: value' lines indented below its name (see docs/config.md)"
    key = str(loc[-1]) if loc and isinstance(loc[-1], str) else None
    example = _extra(field, "example")
    if name != _path(loc):  # a command-line option
        return message, f"e.g. '{name} {example}'" if example is not None else f"give {name} as {expected}"
    hint = _extra(field, "hint")
    if hint is None and example is not None and key is not None:
        hint = f"e.g. '{key}: {example}'"
    if hint is None:
        hint = f"write {key or 'it'} as {expected}"
    return message, hint


def default_text(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(section)"
    return f"`{_yaml_value(value)}`" if value != "" else '`""`'


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def model_sections(model: type[BaseModel], path: str) -> list[tuple[str, type[BaseModel]]]:
    """``(yaml path, model)`` of ``model`` and every section below it, depth first."""
    out = [(path, model)]
    for key, field in model.model_fields.items():
        base = _strip(field.annotation)[0]
        origin = typing.get_origin(base)
        if is_model(base):
            out += model_sections(base, f"{path}.{key}" if path else key)
        elif origin in (list, tuple) and is_model(_strip(typing.get_args(base)[0])[0]):
            out += model_sections(_strip(typing.get_args(base)[0])[0], f"{path}.{key}[]" if path else f"{key}[]")
        elif origin is dict and is_model(_strip(typing.get_args(base)[1])[0]):
            out += model_sections(_strip(typing.get_args(base)[1])[0], f"{path}.{key}.<column>")
    return out


def md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def key_tables(root: type[BaseModel]) -> list[str]:
    """Markdown sections of ``docs/config.md``: one table of keys per (nested) model of ``root``."""
    lines: list[str] = []
    for path, model in model_sections(root, ""):
        title = f"`{path}`" if path else "Top level"
        doc = (model.__doc__ or "").strip().split("\n\n")[0]
        lines += [f"## {title}", "", " ".join(doc.split()), "",
                  "| key | value | default | description |", "|---|---|---|---|"]
        for key, field in model.model_fields.items():
            expected = expected_text(field.annotation, list(field.metadata))
            lines.append(f"| `{key}` | {md_cell(expected)} | {md_cell(default_text(field))} | "
                         f"{md_cell(field.description or '')} |")
        lines.append("")
    return lines


def reference_page(model: type[BaseModel], yaml_max_depth: int, schema_versions: tuple[int, ...]) -> str:
    """The reference page of every key of ``model`` (``docs/config.md`` for the project file):
    the rules that hold for every key, then :func:`key_tables`."""
    lines = [
        "# Project file: every key",
        "",
        "<!-- generated by `python -m geo_cohesion.settings --markdown > docs/config.md`; do not edit -->",
        "",
        "A project file is YAML (UTF-8) and describes one or more cities: their files and the settings",
        "shared by all of them. Run it with `geo-cohesion run project.yaml --out results/`; see the README",
        "section 'Your own city' for a complete example. The schema is defined in",
        "`geo_cohesion/settings.py`; this page is generated from it.",
        "",
        "Rules for every key:",
        "",
        "* Unknown keys are errors (with the allowed keys), so a typo never falls back to a default.",
        "* Values are read **as typed**: ids, names and codes stay text (`010` stays `\"010\"`, `yes` and",
        "  `no` stay words); numbers and `true`/`false` are read only where a key expects them",
        "  (quoted numbers such as `\"0.95\"` work too). `~`, `null` or an empty value mean *empty*.",
        "* YAML anchors and aliases (`&name`, `*name`), duplicate keys and nesting deeper than",
        f"  {yaml_max_depth} levels are refused.",
        "* Relative paths are relative to the folder of the project file.",
        f"* `schema_version` (optional, default 1) names the version of this schema; supported: "
        f"{', '.join(str(v) for v in schema_versions)}.",
        "* Command-line options that override a key (`geo-cohesion compare --alpha ...`) are checked",
        "  by the same rules.",
        "",
    ]
    return "\n".join(lines + key_tables(model))
