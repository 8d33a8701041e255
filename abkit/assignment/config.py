"""Experiment definitions: a small TOML file that ops staff edit.

    [experiments.standing]
    salt = "standing-2026"
    arms = { holdout = 0.02, v4 = 0.98 }

    [experiments.v5-challenger]
    salt = "v5-challenger"
    arms = { holdout = 0.02, v4 = 0.49, v5 = 0.49 }
    analysis = "sequential"   # or "fixed"; default: sequential for a challenger test, else fixed

Arms keep the order written; the holdout must come first.
"""

from __future__ import annotations

import tomllib
from bisect import bisect_right
from collections.abc import Sequence
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_core import ErrorDetails

from abkit.assignment.hashing import SEPARATOR, arm_bounds, arm_for_bucket, bucket_of, buckets_of
from abkit.assignment.ids import normalise_id
from abkit.text.checks import has_utf8_form

HOLDOUT = "holdout"
DEFAULT_HOLDOUT_WEIGHT = 0.02
_WEIGHT_TOLERANCE = Fraction(1, 10**9)
_MAX_NAME_LENGTH = 64  # the width of the experiment and arm columns of the event store
_NOT_UTF8 = "is not valid UTF-8"

# How the report reads an experiment: "sequential" (always-valid CIs and p, safe to read every day
# and to stop at the first significant look) or "fixed" (one look at a planned end; docs/statistics.md).
Analysis = Literal["sequential", "fixed"]
ANALYSES: tuple[Analysis, ...] = get_args(Analysis)


class ConfigError(ValueError):
    """An experiment definition that cannot be used, with the reason."""


def _salt(value: str) -> str:
    if not value.strip():
        raise ValueError("empty salt")
    if SEPARATOR in value:
        raise ValueError("salt must not contain \\x1f")
    if not has_utf8_form(value):  # the salt is hashed as UTF-8
        raise ValueError(f"salt {_NOT_UTF8}")
    return value


def _name(value: str) -> str:
    """An experiment or arm name held to the rules of the events that carry it.

    Events trim names by the id rule (:mod:`abkit.assignment.ids`) and refuse NUL and U+FFFD
    (:mod:`abkit.events.validate`), so an arm named ``" v4"`` would never match its own events;
    ``\\x1f`` joins experiment and arm names where arms are checked against experiments. A lone
    surrogate (no UTF-8 form) pydantic refuses before this, see :func:`_reason`.
    """
    if not normalise_id(value):
        raise ValueError("is blank")
    if value != normalise_id(value):
        raise ValueError("has leading or trailing whitespace, which events trim, so no event would match it")
    if SEPARATOR in value:
        raise ValueError("contains the unit separator \\x1f")
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    if "\ufffd" in value:  # what a lossy decode left of bytes that were not UTF-8
        raise ValueError(_NOT_UTF8)
    return value


_Name = Annotated[str, Field(strict=True, min_length=1, max_length=_MAX_NAME_LENGTH), AfterValidator(_name)]
# Strict: true and "0.98" are not weights (an int is: 1 means 1.0).
_Weight = Annotated[float, Field(strict=True, gt=0, le=1)]


@pydantic_dataclass(frozen=True)
class _ExperimentFields:
    """The fields and rules of :class:`ExperimentConfig`, validated by pydantic."""

    name: _Name
    salt: Annotated[str, Field(strict=True), AfterValidator(_salt)]
    arms: Annotated[tuple[tuple[_Name, _Weight], ...], Field(min_length=2)]
    analysis: Analysis | None = None

    @model_validator(mode="after")
    def _arms_make_one_split(self) -> _ExperimentFields:
        names = [name for name, _ in self.arms]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate arm names {duplicates}")
        if names[0] != HOLDOUT:
            raise ValueError(f"the holdout arm must come first (found {names[0]!r} first)")
        total = sum(Fraction(str(w)) for _, w in self.arms)
        if not 1 - _WEIGHT_TOLERANCE <= total <= 1 + _WEIGHT_TOLERANCE:
            raise ValueError(f"arm weights sum to {float(total):g}, not 1")
        return self


_FIELDS = ("name", "salt", "arms", "analysis")


def _reason(error: ErrorDetails, arms: Any) -> str:
    """One pydantic error in the words of the experiments file."""
    loc, kind = error["loc"], error["type"]
    field = _FIELDS[loc[0]] if loc and isinstance(loc[0], int) else str(loc[0]) if loc else ""
    if kind in ("value_error", "string_unicode"):  # the rules of _salt, _name and the arms as a whole
        # string_unicode: pydantic's own refusal of a name holding a lone surrogate (no UTF-8 form)
        reason = str(error["ctx"]["error"]) if kind == "value_error" else _NOT_UTF8
        if field == "arms" and len(loc) == 3:
            return f"arm {arms[loc[1]][0]!r} {reason}"
        return f"name {reason}" if field == "name" else reason
    if field == "name" and kind == "string_too_long":
        return f"name longer than {_MAX_NAME_LENGTH} characters"
    if field == "arms" and kind == "too_short":
        return "needs at least two arms (holdout first)"
    if field == "arms" and len(loc) == 3:  # ("arms", index, 0 for the name or 1 for the weight)
        name = arms[loc[1]][0]
        if loc[2] == 1:
            return f"weight of arm {name!r} must be a number in (0, 1], got {error['input']!r}"
        if kind == "string_too_long":
            return f"arm name {name[:20]!r}... longer than {_MAX_NAME_LENGTH} characters"
        return "arm names must be non-empty strings"
    if field == "analysis" and kind == "literal_error":
        return f"analysis must be one of {list(ANALYSES)}, got {error['input']!r}"
    return f"{'.'.join(str(part) for part in (field, *loc[1:]))}: {error['msg']}"


class ExperimentConfig(_ExperimentFields):
    """One experiment: a name, a salt and ordered arms with weights (holdout first).

    A frozen (pydantic) dataclass: ``ExperimentConfig(name, salt, arms, analysis=None)``
    validates its fields and raises :class:`ConfigError` naming the experiment and the field.
    ``analysis`` is how the report reads it; None (not declared) means :attr:`resolved_analysis`'s
    default: sequential for a challenger test (two or more version arms), fixed for a standing holdout.
    """

    def __init__(
        self, name: str, salt: str, arms: Sequence[tuple[str, float]], analysis: Analysis | None = None
    ) -> None:
        try:
            super().__init__(name, salt, arms, analysis)  # type: ignore[arg-type]  # any sequence: made a tuple
        except ValidationError as error:
            if not isinstance(name, str) or not name:
                raise ConfigError("experiment: empty name") from None
            raise ConfigError(f"experiment {name!r}: {_reason(error.errors()[0], arms)}") from None

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.arms)

    @property
    def resolved_analysis(self) -> Analysis:
        """The declared analysis, else sequential for a challenger test and fixed otherwise."""
        if self.analysis is not None:
            return self.analysis
        return "sequential" if len(self.arm_names) > 2 else "fixed"

    @property
    def holdout_weight(self) -> float:
        return self.arms[0][1]

    def weights(self) -> dict[str, float]:
        return dict(self.arms)

    def assign(self, advocate_id: str, case_id: str) -> str:
        """The arm of one advocate-support-case interaction."""
        return arm_for_bucket(bucket_of(self.salt, advocate_id, case_id), self.arm_names, self._bounds)

    def assign_many(self, advocate_ids: Sequence[str], case_ids: Sequence[str]) -> list[str]:
        """Arms of many interactions (same result as :meth:`assign`, one call)."""
        names, bounds = self.arm_names, self._bounds
        return [names[bisect_right(bounds, bucket)] for bucket in buckets_of(self.salt, advocate_ids, case_ids)]

    @cached_property
    def _bounds(self) -> tuple[int, ...]:
        # Cached: exact Fraction arithmetic costs ~100 us, paid once rather than per request.
        return arm_bounds([w for _, w in self.arms])


def check_holdout_weight(holdout_weight: float) -> float:
    """``holdout_weight`` if it can be the standing experiment's holdout: a number in (0, 1).

    1 is refused with the other weights outside the range, since the served version gets the rest.
    ``abkit serve --holdout-weight`` runs this as its argument is parsed, before any model loads.

    Raises:
        ConfigError: naming the experiment, the holdout's weight and its rule.
    """
    number = isinstance(holdout_weight, int | float) and not isinstance(holdout_weight, bool)
    if not (number and 0 < holdout_weight < 1):  # NaN compares false: refused too
        raise ConfigError(
            f"experiment 'standing': weight of arm {HOLDOUT!r} must be a number in (0, 1) "
            f"(the served version takes the rest), got {holdout_weight!r}"
        )
    return holdout_weight


def standing_experiment(
    model_version: str, *, holdout_weight: float = DEFAULT_HOLDOUT_WEIGHT, salt: str = "standing"
) -> ExperimentConfig:
    """The standing experiment: a holdout and one served model version for everyone else.

    Raises:
        ConfigError: a holdout weight outside (0, 1) (:func:`check_holdout_weight`), or a model
            version or salt that cannot name an arm or salt an experiment.
    """
    rest = float(Fraction(1) - Fraction(str(check_holdout_weight(holdout_weight))))
    return ExperimentConfig(name="standing", salt=salt, arms=((HOLDOUT, holdout_weight), (model_version, rest)))


class _ExperimentTable(BaseModel):
    """One ``[experiments.NAME]`` table as written; :class:`ExperimentConfig` checks the values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    salt: Any = ""
    arms: dict[str, Any]
    description: str | None = None
    analysis: Any = None


class _ExperimentsFile(BaseModel):
    """The experiments file: its ``[experiments.NAME]`` tables (other top-level keys are left alone)."""

    model_config = ConfigDict(frozen=True)

    experiments: Annotated[dict[str, _ExperimentTable], Field(min_length=1)]


def _file_reason(errors: list[ErrorDetails]) -> str:
    """The first problem of the file's structure, in its own words."""
    loc, kind = errors[0]["loc"], errors[0]["type"]
    if len(loc) < 2:
        return "no [experiments.NAME] tables found"
    where = f"experiment {loc[1]!r}"
    if len(loc) == 2:
        return f"experiments.{loc[1]} must be a table"
    if kind == "extra_forbidden":
        unknown = sorted(str(e["loc"][2]) for e in errors if e["type"] == "extra_forbidden" and e["loc"][1] == loc[1])
        return f"{where}: unknown keys {unknown}"
    if loc[2] == "arms":
        return f"{where}: arms must be a table like {{ holdout = 0.02, v4 = 0.98 }}"
    return f"{where}: {'.'.join(str(part) for part in loc[2:])}: {errors[0]['msg']}"


def parse_experiments(document: dict, *, source: str = "config") -> dict[str, ExperimentConfig]:
    """Experiment definitions from a parsed TOML document.

    Raises:
        ConfigError: naming ``source``, the experiment and the field.
    """
    try:
        tables = _ExperimentsFile.model_validate(document).experiments
    except ValidationError as error:
        raise ConfigError(f"{source}: {_file_reason(error.errors())}") from None
    try:
        return {
            name: ExperimentConfig(name, table.salt, tuple(table.arms.items()), table.analysis)
            for name, table in tables.items()
        }
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def load_experiments(path: str | Path) -> dict[str, ExperimentConfig]:
    """Read experiment definitions from a TOML file.

    Raises:
        ConfigError: the file is missing, not TOML, or an experiment is invalid.
    """
    file = Path(path)
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: experiments file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: not valid TOML ({error})") from None
    except OSError as error:
        raise ConfigError(f"{file}: cannot read the experiments file ({error.strerror or error})") from None
    return parse_experiments(document, source=str(file))


DEFAULT_EXPERIMENTS_FILE = Path("experiments.toml")
