"""Building blocks of the settings schema (:mod:`geo_cohesion.settings`): allowed values, value types,
the documented-key helper and the base model.

The allowed values of choices used further down the pipeline (p-value adjustments, contiguity
rules, classification schemes, figure formats, estimators) are defined here, once; the modules
that implement them import them (through :mod:`geo_cohesion.settings`, which re-exports them).
"""
from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.json_schema import JsonDict
from pydantic_core import PydanticCustomError, PydanticKnownError

from geo_cohesion.errors import InputError
from geo_cohesion.settings_text import describe_error, is_model, location_name, unknown_keys_text

# ---------------------------------------------------------------------------------------------
# Allowed values (one place; the implementing modules import them)

#: Versions of the project-file schema this geo-cohesion reads.
SCHEMA_VERSIONS = (1,)
# (the values are written once, in the Literal types; the tuples are their arguments)
Adjustment = Literal["holm", "fdr_bh", "none"]
Contiguity = Literal["queen", "rook"]
Scheme = Literal["quantiles", "natural_breaks", "equal_interval", "fixed", "user"]
FigureFormat = Literal["png", "pdf", "svg"]
Estimator = Literal["direct", "fay_herriot", "spatial_fay_herriot"]
ModelMse = Literal["prasad_rao", "robust"]
WeightingMethod = Literal["raking", "none"]
Direction = Literal["higher_is_worse", "higher_is_better", "neutral"]
Role = Literal["deprivation", "population", "context"]
DecimalMark = Literal[".", ","]
ThousandsSeparator = Literal["", ".", ",", " "]
WmsFormat = Literal["image/png", "image/jpeg"]

#: Multiple-testing adjustments across districts (:mod:`geo_cohesion.stats.multiple_testing`).
ADJUSTMENTS: tuple[str, ...] = typing.get_args(Adjustment)
#: Contiguity rules for spatial weights (:mod:`geo_cohesion.spatial.weights`).
CONTIGUITIES: tuple[str, ...] = typing.get_args(Contiguity)
#: Map classification schemes (:mod:`geo_cohesion.maps.classify`).
SCHEMES: tuple[str, ...] = typing.get_args(Scheme)
#: Formats of the print figures.
FIGURE_FORMATS: tuple[str, ...] = typing.get_args(FigureFormat)
#: Default print formats for planners: PNG for office documents and slides, PDF (vector) for print.
#: SVG (editable in Inkscape/Illustrator) on request.
DEFAULT_FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf")
#: District estimators.
ESTIMATORS: tuple[str, ...] = typing.get_args(Estimator)
#: MSE estimators behind the intervals of model estimates (:func:`geo_cohesion.survey.sae.robust_mse`).
MODEL_MSES: tuple[str, ...] = typing.get_args(ModelMse)
#: Direction of a structural indicator.
DIRECTIONS: tuple[str, ...] = typing.get_args(Direction)
#: Role of a structural indicator.
ROLES: tuple[str, ...] = typing.get_args(Role)
#: Decimal marks and thousands separators a CSV table may declare (``""``: no thousands separator).
DECIMAL_MARKS: tuple[str, ...] = typing.get_args(DecimalMark)
THOUSANDS_SEPARATORS: tuple[str, ...] = typing.get_args(ThousandsSeparator)
#: Seeds are unsigned 32-bit integers (``0 <= seed < SEED_LIMIT``).
SEED_LIMIT = 2**32
#: Deepest nesting a project file may have (the YAML loader refuses deeper files).
YAML_MAX_DEPTH = 20

# ---------------------------------------------------------------------------------------------
# Value types. A YAML file gives every plain scalar as text (see project.config); numbers and
# true/false are parsed where the field is numeric or boolean. Python callers may give numbers.


def _float_not_bool(value: Any) -> Any:
    """Numbers are numbers: ``true`` is not 1."""
    if isinstance(value, bool):
        raise PydanticKnownError("float_type")
    return value


def _int_not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticKnownError("int_type")
    return value


def _whole_number_as_text(value: Any) -> Any:
    """An id given as a Python integer (``20``) is the text ``"20"``; floats and booleans are not text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Int = Annotated[int, BeforeValidator(_int_not_bool)]
Float = Annotated[float, BeforeValidator(_float_not_bool)]
Text = Annotated[str, BeforeValidator(_whole_number_as_text)]


def custom_error(kind: str, message: str, hint: str, **context: Any) -> PydanticCustomError:
    """A validation error with its own message and a hint for the user."""
    return PydanticCustomError(kind, message, {"hint": hint, **context})


def setting(description: str, default: Any = ..., *, example: str | None = None, hint: str | None = None,
         **constraints: Any) -> Any:
    """A documented key: ``description`` goes to docs/config.md, ``example``/``hint`` into messages."""
    extra: JsonDict = {k: v for k, v in (("example", example), ("hint", hint)) if v is not None}
    factory = constraints.pop("default_factory", None)
    if factory is not None:
        return Field(default_factory=factory, description=description, json_schema_extra=extra or None, **constraints)
    return Field(default, description=description, json_schema_extra=extra or None, **constraints)


class Settings(BaseModel):
    """Base of all settings sections: frozen, unknown keys are errors, no NaN or infinity."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, validate_default=False)


def decimal_key() -> Any:
    """The ``decimal`` key of a table section."""
    return setting("Decimal mark of the CSV's numbers: '.' or ','; decided per column from its values when empty "
                   "(not used for .xlsx/.sav).", None, example='","')


def thousands_key() -> Any:
    """The ``thousands`` key of a table section."""
    return setting("Thousands separator of the CSV's numbers: '.', ',', ' ' or '' (none); decided per column when "
                   "empty. Set it when a column is reported as ambiguous (e.g. '2.069' next to '987').", None,
                   example='"."')


class TableSpec(Settings):
    """Base of the table sections: the declared number format (``decimal``, ``thousands``) is consistent."""

    @model_validator(mode="after")
    def _distinct_marks(self) -> Any:
        decimal, thousands = getattr(self, "decimal", None), getattr(self, "thousands", None)
        if decimal is not None and decimal == thousands:
            raise custom_error("same_marks", "decimal mark and thousands separator are both '{mark}'",
                               "German numbers: 'decimal: \",\"' with 'thousands: \".\"'; English: the other way "
                               "round; 'thousands: \"\"' for none", mark=decimal)
        return self


# ---------------------------------------------------------------------------------------------
# Errors


class SettingsError(InputError):
    """An :class:`InputError` from validating settings; ``location`` is the pydantic location of the
    first problem (``("cities", 0, "weighting", "bounds")``), for callers that know the file's lines."""

    def __init__(self, message: str, source: str | None = None, hint: str | None = None,
                 location: tuple = ()) -> None:
        self.location = tuple(location)
        super().__init__(message, source, hint)


def settings_error(exc: ValidationError, model: type[BaseModel], names: Mapping[str, str] | None = None,
                   prefix: tuple = ()) -> SettingsError:
    """One readable :class:`SettingsError` for a pydantic ValidationError (never a pydantic dump)."""
    names = dict(names or {})
    errors: list[dict[str, Any]] = [dict(e, loc=prefix + tuple(e["loc"])) for e in exc.errors(include_url=False)]
    # a list whose items failed is also reported as too short: only the items are the problem
    errors = [e for e in errors if not (e["type"] == "too_short" and any(
        len(o["loc"]) > len(e["loc"]) and o["loc"][:len(e["loc"])] == e["loc"] for o in errors))] or errors
    # 'Path:' for 'path:' is reported as an unknown key and a missing one: the unknown key says what to fix
    missing = {e["loc"] for e in errors if e["type"] == "missing"}
    look_alike = [e for e in errors if e["type"] == "extra_forbidden"
                  and e["loc"][:-1] + (str(e["loc"][-1]).strip().lower(),) in missing]
    errors = look_alike + [e for e in errors if e not in look_alike]
    first = errors[0]
    used = [first]
    if first["type"] == "extra_forbidden":
        parent = first["loc"][:-1]
        used = [e for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == parent]
        message, hint = unknown_keys_text(model, parent, [str(e["loc"][-1]) for e in used])
    else:
        message, hint = describe_error(first, model, names)
    rest = [e for e in errors if e not in used]
    if rest:
        paths = sorted({location_name(e["loc"], names) or "the file" for e in rest})
        message += (f" (and {len(rest)} more problem{'s' if len(rest) > 1 else ''}: "
                    f"{', '.join(paths[:5])}{', …' if len(paths) > 5 else ''})")
    return SettingsError(message, hint=hint, location=first["loc"])


def validate_section(model: type[Settings], raw: Any, names: Mapping[str, str] | None = None,
                     context: Mapping[str, Any] | None = None) -> Any:
    """Validate ``raw`` as ``model`` and turn a ValidationError into one :class:`SettingsError`.

    Parameters
    ----------
    model : type
        A settings model (e.g. :class:`MapSpec`).
    raw : mapping
        Its keys and values.
    names : mapping, optional
        How to call a key in messages, e.g. ``{"compare.alpha": "--alpha"}`` for command-line options.
    context : mapping, optional
        Validation context (``base_dir`` for :class:`ProjectConfig`).
    """
    try:
        return model.model_validate(raw, context=dict(context or {}))
    except ValidationError as exc:
        raise settings_error(exc, model, names) from None


def check_value(model: type[Settings], key: str, value: Any, name: str | None = None) -> Any:
    """``value`` validated as key ``key`` of ``model`` (its type and range), e.g. a command-line option.

    Examples
    --------
    >>> check_value(ProjectConfig, "seed", "7")
    7
    """
    field = model.model_fields[key]
    annotation: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(
        annotation, config=None if is_model(field.annotation) else ConfigDict(allow_inf_nan=False))
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise settings_error(exc, model, {"": name or key}, prefix=(key,)) from None


def merge_nested(base: dict, updates: Mapping[str, Any]) -> dict:
    """``base`` with ``updates`` merged in, nested mappings key by key (for command-line overrides)."""
    out = dict(base)
    for key, value in updates.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge_nested(out[key], value)
        else:
            out[key] = value
    return out
