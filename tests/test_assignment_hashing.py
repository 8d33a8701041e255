"""The assignment hash: pinned test vectors, uniformity, process independence, ramp properties."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from abkit.assignment.hashing import (
    BUCKET_SPACE,
    arm_bounds,
    arm_for_bucket,
    assign_arm,
    bucket_of,
    buckets_of,
    unit_fraction,
)

STANDING = (("holdout", 0.02), ("v4", 0.98))
CHALLENGER = (("holdout", 0.02), ("v4", 0.49), ("v5", 0.49))

# (salt, advocate_id, case_id, bucket, arm under STANDING or CHALLENGER). The buckets are literal
# values computed once with the recipe of docs/assignment.md, independently of abkit:
#   int.from_bytes(hashlib.sha256(f"{salt}\x1f{advocate}\x1f{case}".encode()).digest()[:8], "big")
# `test_vectors_follow_the_documented_recipe` recomputes them that way.
VECTORS = [
    ("standing", "adv-1", "case-1", 17595607386275935082, STANDING, "v4"),
    ("standing", "adv-1", "case-2", 2479031760579868106, STANDING, "v4"),
    ("standing", "a", "b", 7179449682954029961, STANDING, "v4"),
    ("standing", "adv-7", "case-29", 264548684188266218, STANDING, "holdout"),
    ("v5-challenger", "adv-7", "case-8", 300424760217365903, CHALLENGER, "holdout"),
    ("v5-challenger", "adv-7", "case-1", 3725857157897563300, CHALLENGER, "v4"),
    ("v5-challenger", "adv-7", "case-0", 11130468008077246093, CHALLENGER, "v5"),
    ("salt", "advocate-é", "case-∑", 16321448259011731548, STANDING, "v4"),
]


# Ids are trimmed of surrounding Unicode whitespace before hashing (docs/assignment.md, "Ids"):
# each of these is the unit adv-1 / case-1 of the first vector above. U+001C..U+001F are not
# whitespace under the rule (Python's str.strip() would remove them), so "\x1cadv-1" is another unit.
WHITESPACE_VECTORS = [
    ("standing", " adv-1", "case-1", 17595607386275935082, STANDING, "v4"),
    ("standing", "adv-1\t", "\u00a0case-1\u3000", 17595607386275935082, STANDING, "v4"),
    ("standing", "\r\n adv-1 \u2009", "case-1\n", 17595607386275935082, STANDING, "v4"),
    ("standing", "\x1cadv-1", "case-1", 10889582212353788239, STANDING, "v4"),
]


def _reference_bucket(salt: str, advocate: str, case: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}\x1f{advocate}\x1f{case}".encode()).digest()[:8], "big")


@pytest.mark.parametrize(("salt", "advocate", "case", "bucket", "arms", "arm"), VECTORS)
def test_pinned_vectors(salt, advocate, case, bucket, arms, arm):
    assert bucket_of(salt, advocate, case) == bucket
    assert assign_arm(salt, arms, advocate, case) == arm
    assert unit_fraction(salt, advocate, case) == bucket / 2**64


@pytest.mark.parametrize(("salt", "advocate", "case", "bucket", "arms", "arm"), VECTORS)
def test_vectors_follow_the_documented_recipe(salt, advocate, case, bucket, arms, arm):
    assert _reference_bucket(salt, advocate, case) == bucket
    # The arm is the first whose cumulative weight, as an exact decimal, exceeds bucket / 2**64.
    cumulative = 0
    for name, weight in arms:
        cumulative += round(weight * 100)  # these weights are whole percents
        if bucket * 100 < cumulative * 2**64:
            assert name == arm
            break


@pytest.mark.parametrize(("salt", "advocate", "case", "bucket", "arms", "arm"), WHITESPACE_VECTORS)
def test_whitespace_vectors(salt, advocate, case, bucket, arms, arm):
    assert bucket_of(salt, advocate, case) == bucket
    assert buckets_of(salt, [advocate], [case]) == [bucket]
    assert assign_arm(salt, arms, advocate, case) == arm
    # The documented recipe: strip the Unicode White_Space characters, then hash.
    white_space = (
        "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
    )
    assert _reference_bucket(salt, advocate.strip(white_space), case.strip(white_space)) == bucket


@pytest.mark.parametrize("blank", ["", " ", "\t\u00a0\u3000"])
def test_an_id_of_only_whitespace_is_refused(blank):
    with pytest.raises(ValueError, match="advocate_id: must be a non-empty string"):
        bucket_of("standing", blank, "case-1")
    with pytest.raises(ValueError, match="case_id at position 1: must be a non-empty string"):
        buckets_of("standing", ["a", "b"], ["c", blank])


def test_worked_example_of_the_docs():
    # docs/assignment.md walks through this unit by hand.
    key = b"standing\x1fadv-1\x1fcase-1"
    assert hashlib.sha256(key).hexdigest()[:16] == "f43027b13a37736a"
    assert int("f43027b13a37736a", 16) == 17595607386275935082
    assert arm_bounds([0.02, 0.98]) == (368934881474191032, 2**64)  # floor(0.02 * 2**64), exact
    assert pytest.approx(0.95386, abs=1e-5) == 17595607386275935082 / 2**64


def test_bounds_are_exact_decimals_not_floats():
    # float(0.02) * 2**64 would give ...040; the weight is read as the decimal 2/100.
    assert arm_bounds(["0.02", "0.49", "0.49"]) == (368934881474191032, 9407839477591871324, 2**64)
    assert arm_bounds([0.5, 0.5]) == (2**63, 2**64)


def test_arm_for_bucket_edges():
    names, bounds = ("holdout", "v1"), arm_bounds([0.02, 0.98])
    assert arm_for_bucket(0, names, bounds) == "holdout"
    assert arm_for_bucket(bounds[0] - 1, names, bounds) == "holdout"
    assert arm_for_bucket(bounds[0], names, bounds) == "v1"
    assert arm_for_bucket(BUCKET_SPACE - 1, names, bounds) == "v1"


def test_buckets_of_matches_bucket_of():
    advocates = [f"adv-{i}" for i in range(200)]
    cases = [f"case-{i * 7}" for i in range(200)]
    assert buckets_of("s", advocates, cases) == [bucket_of("s", a, c) for a, c in zip(advocates, cases, strict=True)]


@pytest.mark.parametrize(
    ("advocates", "cases", "message"),
    [
        (["a", ""], ["c", "d"], "advocate_id at position 1: must be a non-empty string"),
        (["a", "b"], ["c", "d\x1fe"], "case_id at position 1: must not contain the unit separator"),
        (["a", 5], ["c", "d"], "advocate_id at position 1: must be a non-empty string"),
        (["a"], ["c", "d"], "1 advocate_ids but 2 case_ids"),
    ],
)
def test_buckets_of_names_the_bad_position(advocates, cases, message):
    with pytest.raises(ValueError, match=message):
        buckets_of("s", advocates, cases)


@pytest.mark.parametrize(
    ("salt", "advocate", "case", "message"),
    [
        ("", "a", "c", "salt: must be a non-empty string"),
        ("s", "", "c", "advocate_id: must be a non-empty string"),
        ("s", "a", None, "case_id: must be a non-empty string"),
        ("s", "a\x1fb", "c", "advocate_id: must not contain"),
    ],
)
def test_bucket_of_refuses_bad_parts(salt, advocate, case, message):
    with pytest.raises(ValueError, match=message):
        bucket_of(salt, advocate, case)


def test_separator_makes_the_key_unambiguous():
    # Without a separator ("ab" + "c" == "a" + "bc") these two units would share a bucket.
    assert bucket_of("s", "ab", "c") != bucket_of("s", "a", "bc")


@pytest.mark.slow
def test_holdout_fraction_of_a_million_units_is_within_4_standard_errors():
    rng = random.Random(20260101)
    n = 1_000_000
    advocates = [f"adv-{rng.getrandbits(32)}" for _ in range(n)]
    cases = [f"case-{rng.getrandbits(48)}" for _ in range(n)]
    bound = arm_bounds([0.02, 0.98])[0]
    share = sum(bucket < bound for bucket in buckets_of("standing", advocates, cases)) / n
    standard_error = (0.02 * 0.98 / n) ** 0.5  # binomial: sqrt(p (1 - p) / n) = 0.00014
    assert abs(share - 0.02) < 4 * standard_error


_CHILD = """
import sys
from abkit.assignment.hashing import assign_arm
arms = (("holdout", 0.02), ("v4", 0.49), ("v5", 0.49))
print(",".join(assign_arm("cross-process", arms, f"adv-{i % 37}", f"case-{i}") for i in range(2000)))
print(hash("abkit"))
"""


def test_identical_arms_across_processes_with_different_hash_seeds():
    root = Path(__file__).resolve().parents[1]
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        done = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
        outputs.append(done.stdout.splitlines())
    (arms_1, python_hash_1), (arms_2, python_hash_2) = outputs
    assert python_hash_1 != python_hash_2  # the seeds did change Python's own hash()...
    assert arms_1 == arms_2  # ...and the arms did not move
    assert set(arms_1.split(",")) == {"holdout", "v4", "v5"}


def _units(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    return [f"adv-{rng.getrandbits(20)}" for _ in range(n)], [f"case-{rng.getrandbits(40)}" for _ in range(n)]


def _arms(arms, advocates, cases) -> list[str]:  # type: ignore[no-untyped-def]
    names, bounds = [a for a, _ in arms], arm_bounds([w for _, w in arms])
    return [arm_for_bucket(b, names, bounds) for b in buckets_of("ramp", advocates, cases)]


def test_changing_non_holdout_weights_never_moves_the_holdout():
    advocates, cases = _units(50_000, 1)
    ramps = [
        (("holdout", 0.02), ("v4", 0.98)),
        (("holdout", 0.02), ("v4", 0.88), ("v5", 0.10)),
        (("holdout", 0.02), ("v4", 0.49), ("v5", 0.49)),
        (("holdout", 0.02), ("v5", 0.98)),
    ]
    holdouts = [{i for i, arm in enumerate(_arms(r, advocates, cases)) if arm == "holdout"} for r in ramps]
    assert all(h == holdouts[0] for h in holdouts)
    assert 800 < len(holdouts[0]) < 1200  # about 2% of 50,000


def test_raising_the_holdout_only_adds_units():
    advocates, cases = _units(50_000, 2)
    before = _arms((("holdout", 0.02), ("v4", 0.98)), advocates, cases)
    after = _arms((("holdout", 0.05), ("v4", 0.95)), advocates, cases)
    held_before = {i for i, arm in enumerate(before) if arm == "holdout"}
    held_after = {i for i, arm in enumerate(after) if arm == "holdout"}
    assert held_before < held_after
    assert len(held_after) - len(held_before) > 1000  # about 3% more
    # Units that stay out of the holdout keep their arm.
    assert all(before[i] == after[i] for i in range(len(before)) if i not in held_after)


def test_ramping_a_challenger_only_moves_units_from_baseline_to_challenger():
    advocates, cases = _units(50_000, 3)
    small = _arms((("holdout", 0.02), ("v4", 0.88), ("v5", 0.10)), advocates, cases)
    large = _arms((("holdout", 0.02), ("v4", 0.49), ("v5", 0.49)), advocates, cases)
    moved = {(a, b) for a, b in zip(small, large, strict=True) if a != b}
    assert moved == {("v4", "v5")}
