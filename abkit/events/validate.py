"""Column-wise validation of event batches (pure: polars in, polars out, no I/O).

One implementation serves every entry point: the HTTP service, the simulator and
`abkit ingest` all hand a batch to :func:`validate_batch`, which returns the typed valid
rows and, for every refused row, the first field at fault and the reason.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import polars as pl

from abkit.events import columns as c
from abkit.events.column_types import Role, as_datetime, as_float, as_text, holds, wrong_type_reason
from abkit.events.columns import EventKind

MAX_ID_LENGTH = 128
MAX_NAME_LENGTH = 64
MAX_SELECTION_TIME_S = 24 * 3600.0
MAX_HANDLE_TIME_S = 30 * 24 * 3600.0
REPLACEMENT_CHARACTER = "\ufffd"  # what a lossy UTF-8 decode leaves for invalid bytes

_ROW = "__row__"
_FIELD = "__field__"
_REASON = "__reason__"
_CHECK = "__check__"

ID_FIELDS: dict[EventKind, tuple[str, ...]] = {
    "prediction": (c.PREDICTION_ID, c.CASE_ID, c.MESSAGE_ID, c.ADVOCATE_ID),
    "selection": (c.SELECTION_ID, c.CASE_ID, c.MESSAGE_ID, c.ADVOCATE_ID, c.TEMPLATE_ID),
    "case": (c.CASE_ID,),
}
NAME_FIELDS: dict[EventKind, tuple[str, ...]] = {
    "prediction": (c.EXPERIMENT, c.ARM, c.MODEL_VERSION),
    "selection": (c.EXPERIMENT, c.ARM, c.MODEL_VERSION),
    "case": (),
}
TIME_FIELDS: dict[EventKind, tuple[str, ...]] = {
    "prediction": (c.CREATED_AT,),
    "selection": (c.CREATED_AT,),
    "case": (c.CLOSED_AT,),
}
FLOAT_FIELDS: dict[EventKind, tuple[str, ...]] = {
    "prediction": (c.LATENCY_MS, *c.SCORE_COLUMNS),
    "selection": (c.SELECTION_TIME_S,),
    "case": (c.HANDLE_TIME_S,),
}
OPTIONAL_FIELDS: dict[EventKind, tuple[str, ...]] = {
    "prediction": (*c.TEMPLATE_ID_COLUMNS, *c.SCORE_COLUMNS),
    "selection": (c.PREDICTION_ID,),
    "case": (),
}


@dataclass(frozen=True)
class ValidatedBatch:
    """The outcome of validating one batch.

    Attributes:
        valid: typed rows that passed, in input order, with a ``__row__`` column giving
            their position in the input.
        rejected: one row per refused input row: ``__row__``, ``__field__``, ``__reason__``.
    """

    valid: pl.DataFrame
    rejected: pl.DataFrame


def _text_checks(name: str, raw: pl.Expr, typed: pl.Expr, *, required: bool, max_length: int):
    checks = []
    if required:
        checks.append((name, typed.is_null() | (typed == ""), pl.lit("missing or empty")))
    checks.append(
        (
            name,
            typed.str.contains(REPLACEMENT_CHARACTER, literal=True).fill_null(False),
            pl.lit("not valid UTF-8"),
        )
    )
    checks.append(
        (
            name,
            typed.str.contains("\x00", literal=True).fill_null(False),
            pl.lit("contains a NUL character"),
        )
    )
    checks.append(
        (
            name,
            (typed.str.len_chars() > max_length).fill_null(False),
            pl.lit(f"longer than {max_length} characters"),
        )
    )
    return checks


def _invalid_utf8(raw: pl.Expr) -> pl.Expr:
    # A lossy decode leaves U+FFFD where the bytes were; say so rather than "not a number".
    return raw.cast(pl.String).str.contains(REPLACEMENT_CHARACTER, literal=True).fill_null(False)


def _number_checks(name: str, raw: pl.Expr, typed: pl.Expr, *, low: float, high: float, required: bool = True):
    not_given = raw.is_null() | (raw.cast(pl.String).str.strip_chars() == "")
    checks = []
    if required:
        checks.append((name, not_given, pl.lit("missing")))
    checks += [
        (name, _invalid_utf8(raw), pl.lit("not valid UTF-8")),
        (
            name,
            ~not_given & typed.is_null(),
            pl.format("not a number: {}", raw.cast(pl.String)),
        ),
        (name, typed.is_nan().fill_null(False) | typed.is_infinite().fill_null(False), pl.lit("not finite")),
        (
            name,
            ((typed < low) | (typed > high)).fill_null(False),
            pl.format(f"out of range [{low:g}, {high:g}]: {{}}", typed),
        ),
    ]
    return checks


Check = tuple[str, pl.Expr, pl.Expr]  # (field, the rows failing it, the reason given)
KnownArms = tuple[tuple[str, tuple[str, ...]], ...]  # (experiment, its arms), sorted


@dataclass(frozen=True)
class _CheckPlan:
    """The expressions that apply the checks of one shape of batch."""

    first_failed: pl.Expr  # index of the first failing check, null when the row passes
    field: pl.Expr  # given that index, the field at fault
    reason: pl.Expr  # and the reason


# Polars expressions are immutable, so the checks are built once per shape of batch (kind,
# missing columns, registered arms) and reused: building the ~70 expressions of a prediction
# batch cost more than running them on a few hundred rows.
@functools.lru_cache(maxsize=64)
def _check_plan(
    kind: EventKind,
    missing_columns: tuple[str, ...],
    wrong_types: tuple[tuple[str, str], ...],
    known_arms: KnownArms | None,
) -> _CheckPlan:
    checks: list[Check] = []
    for name in missing_columns:
        checks.append((name, pl.lit(True), pl.lit("column missing from the input")))
    for name, why in wrong_types:  # (the column itself was replaced by nulls: see validate_batch)
        checks.append((name, pl.col(_given(name)), pl.lit(why)))
    for name in ID_FIELDS[kind]:
        checks += _text_checks(name, pl.col(f"raw__{name}"), pl.col(name), required=True, max_length=MAX_ID_LENGTH)
    for name in NAME_FIELDS[kind]:
        checks += _text_checks(name, pl.col(f"raw__{name}"), pl.col(name), required=True, max_length=MAX_NAME_LENGTH)
    for name in TIME_FIELDS[kind]:
        raw_time = pl.col(f"raw__{name}")
        given = raw_time.is_not_null() & (raw_time.cast(pl.String).str.strip_chars() != "")
        checks.append((name, ~given, pl.lit("missing")))
        checks.append((name, _invalid_utf8(raw_time), pl.lit("not valid UTF-8")))
        checks.append(
            (
                name,
                given & pl.col(name).is_null(),
                pl.format("not an ISO 8601 timestamp: {}", raw_time.cast(pl.String)),
            )
        )

    if kind in ("prediction", "selection"):
        arm, version = pl.col(c.ARM), pl.col(c.MODEL_VERSION)
        checks.append(
            (
                c.ARM,
                (arm != c.HOLDOUT_ARM) & (arm != version),
                pl.format("unknown arm {}: expected 'holdout' or the model_version {}", arm, version),
            )
        )
        if known_arms:
            experiment_names = [experiment for experiment, _ in known_arms]
            registered = pl.col(c.EXPERIMENT).is_in(experiment_names)
            allowed = pl.concat_str([pl.col(c.EXPERIMENT), pl.lit("\x1f"), arm])
            allowed_pairs = [f"{e}\x1f{a}" for e, arms in known_arms for a in arms]
            checks.append(
                (
                    c.ARM,
                    registered & ~allowed.is_in(allowed_pairs),
                    pl.format("arm {} is not an arm of experiment {}", arm, pl.col(c.EXPERIMENT)),
                )
            )

    if kind == "prediction":
        checks += _number_checks(
            c.LATENCY_MS, pl.col(f"raw__{c.LATENCY_MS}"), pl.col(c.LATENCY_MS), low=0.0, high=3.6e6
        )
        checks += _text_checks(
            c.TEMPLATE_ID_COLUMNS[0],
            pl.col(f"raw__{c.TEMPLATE_ID_COLUMNS[0]}"),
            pl.col(c.TEMPLATE_ID_COLUMNS[0]),
            required=True,
            max_length=MAX_ID_LENGTH,
        )
        for rank, (tid, score) in enumerate(zip(c.TEMPLATE_ID_COLUMNS, c.SCORE_COLUMNS, strict=True)):
            if rank > 0:
                checks += _text_checks(
                    tid, pl.col(f"raw__{tid}"), pl.col(tid), required=False, max_length=MAX_ID_LENGTH
                )
                checks.append(
                    (
                        tid,
                        pl.col(tid).is_not_null() & pl.col(c.TEMPLATE_ID_COLUMNS[rank - 1]).is_null(),
                        pl.lit("ranks must be filled in order (a gap before this rank)"),
                    )
                )
            checks += _number_checks(score, pl.col(f"raw__{score}"), pl.col(score), low=0.0, high=1.0, required=False)
            checks.append(
                (
                    score,
                    pl.col(tid).is_not_null() != pl.col(score).is_not_null(),
                    pl.lit(f"{tid} and {score} must be given together"),
                )
            )
    elif kind == "selection":
        checks += _number_checks(
            c.SELECTION_TIME_S,
            pl.col(f"raw__{c.SELECTION_TIME_S}"),
            pl.col(c.SELECTION_TIME_S),
            low=0.0,
            high=MAX_SELECTION_TIME_S,
        )
        checks += _text_checks(
            c.PREDICTION_ID,
            pl.col(f"raw__{c.PREDICTION_ID}"),
            pl.col(c.PREDICTION_ID),
            required=False,
            max_length=MAX_ID_LENGTH,
        )
    else:
        checks += _number_checks(
            c.HANDLE_TIME_S,
            pl.col(f"raw__{c.HANDLE_TIME_S}"),
            pl.col(c.HANDLE_TIME_S),
            low=0.0,
            high=MAX_HANDLE_TIME_S,
        )

    # The first failing check in declaration order decides the field and the reason. Its index
    # is a flat coalesce over one "null unless check i failed" value per check; a nested
    # when/then/otherwise chain gives the same answer but costs polars' optimiser about 15 ms
    # for the ~70 checks of a prediction batch, whatever the batch size.
    first_failed = pl.coalesce(
        [
            pl.lit(None, dtype=pl.Int32),
            *(pl.when(bad).then(pl.lit(i, dtype=pl.Int32)) for i, (_, bad, _) in enumerate(checks)),
        ]
    )
    index = pl.col(_CHECK)
    field = pl.coalesce(
        [
            pl.lit(None, dtype=pl.String),
            *(pl.when(index == i).then(pl.lit(name)) for i, (name, _, _) in enumerate(checks)),
        ]
    )
    reason = pl.coalesce(
        [pl.lit(None, dtype=pl.String), *(pl.when(index == i).then(why) for i, (_, _, why) in enumerate(checks))]
    )
    return _CheckPlan(first_failed, field, reason)


@functools.lru_cache(maxsize=64)
def _typing(kind: EventKind, schema: tuple[tuple[str, pl.DataType], ...]) -> tuple[pl.Expr, ...]:
    """Expressions typing each expected column of an input with this ``schema``."""
    dtypes = dict(schema)
    optional = set(OPTIONAL_FIELDS[kind])
    float_fields = FLOAT_FIELDS[kind]
    typed: list[pl.Expr] = []
    for name in c.COLUMNS_BY_KIND[kind]:
        if name in TIME_FIELDS[kind]:
            typed.append(pl.col(_parsed_time(name)).alias(name))
        elif name in float_fields:
            typed.append(as_float(name, dtypes[name]).alias(name))
        else:
            text = as_text(name, dtypes[name])
            typed.append((text.replace("", None) if name in optional else text).alias(name))
    return tuple(typed)


def _parsed_time(name: str) -> str:
    return f"__time__{name}"


def _given(name: str) -> str:
    return f"__given__{name}"


def _role(kind: EventKind, name: str) -> Role:
    return "timestamp" if name in TIME_FIELDS[kind] else "number" if name in FLOAT_FIELDS[kind] else "text"


def validate_batch(
    kind: EventKind,
    frame: pl.DataFrame,
    *,
    known_arms: dict[str, frozenset[str]] | None = None,
) -> ValidatedBatch:
    """Validate a batch of ``kind`` events given as a polars DataFrame.

    Args:
        kind: ``prediction``, ``selection`` or ``case``.
        frame: one row per event; columns named as in :mod:`abkit.events.columns`. Columns
            may be strings (as read from CSV) or typed (Parquet, JSON).
        known_arms: arms of experiments registered in the store, by experiment name; an event
            of a registered experiment must name one of them.

    Returns:
        The typed valid rows and a table of rejected rows with the field and reason.

    Raises:
        KeyError-free: a missing required column rejects every row naming that column.
    """
    expected = c.COLUMNS_BY_KIND[kind]
    optional = set(OPTIONAL_FIELDS[kind])
    n_rows = frame.height
    base = frame.with_row_index(_ROW)
    for name in expected:
        if name not in base.columns:
            base = base.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    missing_columns = tuple(n for n in expected if n not in frame.columns and n not in optional)
    # A column of a type that cannot hold its field is refused where a value is given; it is
    # replaced by nulls so that no typing or check below casts it (abkit.events.column_types).
    schema = base.schema
    wrong_types = tuple(
        (n, wrong_type_reason(_role(kind, n), schema[n])) for n in expected if not holds(_role(kind, n), schema[n])
    )
    if wrong_types:
        base = base.with_columns(
            *(pl.col(n).is_not_null().alias(_given(n)) for n, _ in wrong_types),
            *(pl.lit(None, dtype=pl.String).alias(n) for n, _ in wrong_types),
        )
    arms_key = tuple(sorted((e, tuple(sorted(a))) for e, a in known_arms.items())) if known_arms else None
    plan = _check_plan(kind, missing_columns, wrong_types, arms_key)

    # Timestamps given as text are parsed in Python (ISO 8601 with offsets, epoch numbers),
    # the one column that cannot be an expression; it enters the query as a ready column.
    parsed_times = {_parsed_time(name): as_datetime(base[name]) for name in TIME_FIELDS[kind]}
    schema = base.schema
    typed = _typing(kind, tuple((name, schema[name]) for name in expected))
    work = base.with_columns(**parsed_times).select(
        pl.col(_ROW),
        *typed,
        *[pl.col(n).alias(f"raw__{n}") for n in expected],
        *[pl.col(_given(n)) for n, _ in wrong_types],
    )
    verdict = work.with_columns(plan.first_failed.alias(_CHECK))
    valid = verdict.filter(pl.col(_CHECK).is_null()).select(_ROW, *expected)
    refused = verdict.filter(pl.col(_CHECK).is_not_null())
    # Most batches have no fault: the reasons (formatted from the row's values) are worked out
    # only for the rows that failed.
    if refused.height:
        rejected = refused.select(_ROW, plan.field.alias(_FIELD), plan.reason.alias(_REASON))
    else:
        rejected = pl.DataFrame(schema={_ROW: refused.schema[_ROW], _FIELD: pl.String, _REASON: pl.String})
    assert valid.height + rejected.height == n_rows
    return ValidatedBatch(valid=valid, rejected=rejected)
