"""The assignment hash (documented in docs/assignment.md, pinned by test vectors in tests/test_assignment_hashing.py).

    ids      = advocate_id and case_id trimmed of surrounding whitespace (abkit.assignment.ids)
    key      = UTF-8 bytes of  salt + "\\x1f" + advocate_id + "\\x1f" + case_id
    bucket   = first 8 bytes of SHA-256(key), read as a big-endian unsigned 64-bit integer
    fraction = bucket / 2**64                       (uniform on [0, 1))
    arm      = the first arm, in configured order, whose cumulative weight bound exceeds it

Bounds are exact integers, ``floor(cumulative_weight * 2**64)`` with the weights read as
decimals, so the holdout (always first) keeps the range [0, floor(w_holdout * 2**64)) whatever
the other weights are: ramping challengers never moves a unit into or out of the holdout,
and raising the holdout weight only adds units to it. Python's ``hash()`` is never used: it
is salted per process.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Sequence
from fractions import Fraction

from abkit.assignment.ids import ID_WHITESPACE, normalise_id
from abkit.text.checks import has_utf8_form

SEPARATOR = "\x1f"  # ASCII unit separator; refused inside ids so the key is unambiguous
BUCKET_SPACE = 2**64


def _check_part(name: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: must be a non-empty string (ids are trimmed of surrounding whitespace)")
    if SEPARATOR in value:
        raise ValueError(f"{name}: must not contain the unit separator \\x1f")
    if not has_utf8_form(value):
        raise ValueError(f"{name}: not valid UTF-8")


def bucket_of(salt: str, advocate_id: str, case_id: str) -> int:
    """The unit's 64-bit bucket under ``salt``: an integer in [0, 2**64).

    The ids are normalised first (:func:`abkit.assignment.ids.normalise_id`), so
    ``" adv-1"`` and ``"adv-1"`` are the same unit.
    """
    _check_part("salt", salt)
    advocate_id = normalise_id(advocate_id) if isinstance(advocate_id, str) else advocate_id
    case_id = normalise_id(case_id) if isinstance(case_id, str) else case_id
    _check_part("advocate_id", advocate_id)
    _check_part("case_id", case_id)
    key = f"{salt}{SEPARATOR}{advocate_id}{SEPARATOR}{case_id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def _all_valid_parts(ids: Sequence[str]) -> bool:
    try:
        joined = "\n".join(ids)  # TypeError when an id is not a string
    except TypeError:
        return False
    return all(ids) and SEPARATOR not in joined


def _normalised(ids: Sequence[str]) -> Sequence[str]:
    try:
        return [value.strip(ID_WHITESPACE) for value in ids]  # normalise_id, inlined: the hot path
    except AttributeError:  # a value that is not a string: the check below names it
        return ids


def buckets_of(salt: str, advocate_ids: Sequence[str], case_ids: Sequence[str]) -> list[int]:
    """Buckets of many units under ``salt``; the same values as :func:`bucket_of`, faster.

    Raises:
        ValueError: an id is empty, not a string or holds ``\x1f``, naming its position.
    """
    _check_part("salt", salt)
    if len(advocate_ids) != len(case_ids):
        raise ValueError(f"{len(advocate_ids)} advocate_ids but {len(case_ids)} case_ids")
    advocate_ids, case_ids = _normalised(advocate_ids), _normalised(case_ids)
    for name, ids in (("advocate_id", advocate_ids), ("case_id", case_ids)):
        if not _all_valid_parts(ids):  # the common case is checked at C speed; find the culprit only on failure
            bad = next(i for i, v in enumerate(ids) if not isinstance(v, str) or not v or SEPARATOR in v)
            _check_part(f"{name} at position {bad}", ids[bad])
    prefix = salt + SEPARATOR
    sha256, from_bytes = hashlib.sha256, int.from_bytes  # local names: this loop is the hot path
    return [
        from_bytes(sha256(f"{prefix}{a}{SEPARATOR}{c}".encode()).digest()[:8], "big")
        for a, c in zip(advocate_ids, case_ids, strict=True)
    ]


def unit_fraction(salt: str, advocate_id: str, case_id: str) -> float:
    """The unit's position in [0, 1) under ``salt``."""
    return bucket_of(salt, advocate_id, case_id) / BUCKET_SPACE


def arm_bounds(weights: Sequence[float | str]) -> tuple[int, ...]:
    """Exclusive upper bucket bound of each arm, from weights read as exact decimals."""
    bounds = []
    cumulative = Fraction(0)
    for weight in weights:
        cumulative += Fraction(str(weight))
        bounds.append(min(BUCKET_SPACE, cumulative.numerator * BUCKET_SPACE // cumulative.denominator))
    bounds[-1] = BUCKET_SPACE  # the last arm takes what rounding leaves
    return tuple(bounds)


def arm_for_bucket(bucket: int, arm_names: Sequence[str], bounds: Sequence[int]) -> str:
    """The arm whose bucket range holds ``bucket``."""
    return arm_names[bisect_right(bounds, bucket)]


def assign_arm(salt: str, arms: Sequence[tuple[str, float]], advocate_id: str, case_id: str) -> str:
    """Assign one (advocate_id, case_id) interaction to an arm.

    Args:
        salt: the experiment's salt.
        arms: ordered ``(name, weight)`` pairs, holdout first.
    """
    names = [name for name, _ in arms]
    return arm_for_bucket(bucket_of(salt, advocate_id, case_id), names, arm_bounds([w for _, w in arms]))
