"""Validation of the event batches the service writes, against the code at a git revision.

    .venv/bin/python bench/bench_validate.py [--baseline-rev c35d1dc] [--sizes 1,100,500]

The serving event writer validates every batch it commits (:func:`abkit.events.validate.
validate_batch`, the same code ``abkit ingest`` uses). Its cost per batch is mostly fixed, so it
is paid again for every write, on the writer thread that shares the interpreter with the
request handlers. Candidate: the working tree's ``validate_batch``; baseline: the same file at
``--baseline-rev``. Both validate the same prediction batches (as the service builds them) in
alternating rounds; the ratio is baseline time / candidate time. Both must give the same
valid rows and the same rejects, which the bench checks on a batch with faults as well.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime

import polars as pl
from baseline_rev import alternating_medians_ms, module_at

from abkit.events import columns as c
from abkit.events import validate as candidate
from abkit.events.store import _frame_from_records


def prediction_events(n: int, faults: bool = False) -> pl.DataFrame:
    """``n`` prediction events shaped like the service's; every 7th one broken when ``faults``."""
    events = []
    for i in range(n):
        event = {
            c.PREDICTION_ID: uuid.uuid4().hex,
            c.CASE_ID: f"case-{i}",
            c.MESSAGE_ID: f"case-{i}-m3",
            c.ADVOCATE_ID: f"adv-{i % 50}",
            c.EXPERIMENT: "standing",
            c.ARM: "holdout" if i % 50 == 0 else "v1",
            c.MODEL_VERSION: "v1",
            c.LATENCY_MS: 3.2 + i % 5,
            c.CREATED_AT: datetime(2026, 12, 1, 12, 0, i % 60),
        }
        for rank, (tid, score) in enumerate(zip(c.TEMPLATE_ID_COLUMNS, c.SCORE_COLUMNS, strict=True)):
            event[tid], event[score] = f"T{rank:04d}", 0.3 - rank * 0.05
        if faults and i % 7 == 3:
            event[(c.LATENCY_MS, c.ARM, c.SCORE_COLUMNS[2])[i % 3]] = (-1.0, "v9", 1.5)[i % 3]
        events.append(event)
    return _frame_from_records(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-rev", default="c35d1dc", help="git revision of the baseline validate.py")
    parser.add_argument("--sizes", default="1,100,500", help="events per batch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10, help="validations per round and side")
    args = parser.parse_args()
    baseline = module_at(args.baseline_rev, "abkit/events/validate.py", "baseline_validate")

    broken = prediction_events(70, faults=True)
    old, new = baseline.validate_batch("prediction", broken), candidate.validate_batch("prediction", broken)
    if not (old.valid.equals(new.valid) and old.rejected.equals(new.rejected)):
        raise SystemExit("candidate and baseline disagree on a batch with faults")
    print(f"same verdicts on a 70-event batch with {new.rejected.height} faults")

    for size in [int(s) for s in args.sizes.split(",")]:
        frame = prediction_events(size)
        old_median, new_median = alternating_medians_ms(
            lambda frame=frame: baseline.validate_batch("prediction", frame),
            lambda frame=frame: candidate.validate_batch("prediction", frame),
            args.rounds,
            args.repeats,
        )
        print(
            f"{size:4d} events: baseline ({args.baseline_rev}) {old_median:6.2f} ms, candidate {new_median:6.2f} ms "
            f"-> ratio baseline/candidate {old_median / new_median:.2f}"
        )


if __name__ == "__main__":
    main()
