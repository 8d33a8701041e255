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
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Literal, get_args

from abkit.assignment.hashing import SEPARATOR, arm_bounds, arm_for_bucket, bucket_of, buckets_of

HOLDOUT = "holdout"
DEFAULT_HOLDOUT_WEIGHT = 0.02
_WEIGHT_TOLERANCE = Fraction(1, 10**9)
_MAX_NAME_LENGTH = 64  # the width of the experiment and arm columns of the event store

# How the report reads an experiment: "sequential" (always-valid CIs and p, safe to read every day
# and to stop at the first significant look) or "fixed" (one look at a planned end; docs/statistics.md).
Analysis = Literal["sequential", "fixed"]
ANALYSES: tuple[Analysis, ...] = get_args(Analysis)


class ConfigError(ValueError):
    """An experiment definition that cannot be used, with the reason."""


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: a name, a salt and ordered arms with weights (holdout first).

    ``analysis`` is how the report reads it; None (not declared) means :attr:`resolved_analysis`'s
    default: sequential for a challenger test (two or more version arms), fixed for a standing holdout.
    """

    name: str
    salt: str
    arms: tuple[tuple[str, float], ...]
    analysis: Analysis | None = None

    def __post_init__(self) -> None:
        where = f"experiment {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("experiment: empty name")
        if len(self.name) > _MAX_NAME_LENGTH:
            raise ConfigError(f"{where}: name longer than {_MAX_NAME_LENGTH} characters")
        if not isinstance(self.salt, str) or not self.salt.strip():
            raise ConfigError(f"{where}: empty salt")
        if SEPARATOR in self.salt:
            raise ConfigError(f"{where}: salt must not contain \\x1f")
        if len(self.arms) < 2:
            raise ConfigError(f"{where}: needs at least two arms (holdout first)")
        names = [name for name, _ in self.arms]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"{where}: duplicate arm names {duplicates}")
        if names[0] != HOLDOUT:
            raise ConfigError(f"{where}: the holdout arm must come first (found {names[0]!r} first)")
        for name, weight in self.arms:
            if not name or not isinstance(name, str):
                raise ConfigError(f"{where}: arm names must be non-empty strings")
            if len(name) > _MAX_NAME_LENGTH:
                raise ConfigError(f"{where}: arm name {name[:20]!r}... longer than {_MAX_NAME_LENGTH} characters")
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 1:
                raise ConfigError(f"{where}: weight of arm {name!r} must be a number in (0, 1], got {weight!r}")
        total = sum(Fraction(str(w)) for _, w in self.arms)
        if not 1 - _WEIGHT_TOLERANCE <= total <= 1 + _WEIGHT_TOLERANCE:
            raise ConfigError(f"{where}: arm weights sum to {float(total):g}, not 1")
        if self.analysis is not None and self.analysis not in ANALYSES:
            raise ConfigError(f"{where}: analysis must be one of {list(ANALYSES)}, got {self.analysis!r}")

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


def standing_experiment(
    model_version: str, *, holdout_weight: float = DEFAULT_HOLDOUT_WEIGHT, salt: str = "standing"
) -> ExperimentConfig:
    """The standing experiment: a holdout and one served model version for everyone else."""
    rest = float(Fraction(1) - Fraction(str(holdout_weight)))
    return ExperimentConfig(name="standing", salt=salt, arms=((HOLDOUT, holdout_weight), (model_version, rest)))


def parse_experiments(document: dict, *, source: str = "config") -> dict[str, ExperimentConfig]:
    """Experiment definitions from a parsed TOML document."""
    section = document.get("experiments")
    if not isinstance(section, dict) or not section:
        raise ConfigError(f"{source}: no [experiments.NAME] tables found")
    parsed = {}
    for name, body in section.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{source}: experiments.{name} must be a table")
        unknown = set(body) - {"salt", "arms", "description", "analysis"}
        if unknown:
            raise ConfigError(f"{source}: experiment {name!r}: unknown keys {sorted(unknown)}")
        arms = body.get("arms")
        if not isinstance(arms, dict):
            raise ConfigError(
                f"{source}: experiment {name!r}: arms must be a table like {{ holdout = 0.02, v4 = 0.98 }}"
            )
        try:
            parsed[name] = ExperimentConfig(
                name=name, salt=body.get("salt", ""), arms=tuple(arms.items()), analysis=body.get("analysis")
            )
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
    return parsed


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
