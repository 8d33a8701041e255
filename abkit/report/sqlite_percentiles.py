"""Exact latency percentiles on SQLite, which has no percentile aggregate, without a full sort.

Two grouped passes instead of sorting every prediction:

1. a histogram: count per (model_version, 1 ms bucket), a few hundred rows per version;
2. for the buckets that hold the order statistics the percentiles need (ranks floor(h)+1 and
   floor(h)+2 with h = (n-1)q, and rank n for the max), number the rows of those buckets only
   and return just the wanted ranks.

Python then interpolates as ``percentile_cont`` does. Both queries return O(groups) rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Integer, Select, and_, cast, func, or_, select

from abkit.events.schema import predictions
from abkit.report.groups import PERCENTILES, LatencyGroup, Window, interpolate_percentile
from abkit.report.queries import window_filter

Bucket = tuple[str, int]


def _bucket(column: Any) -> Any:
    # CAST truncates toward zero: buckets stay contiguous value ranges in increasing order.
    return cast(column, Integer)


def histogram_query(window: Window) -> Select:
    """Count of predictions per (model_version, whole-millisecond bucket of latency_ms)."""
    p = predictions.c
    bucket = _bucket(p.latency_ms)
    return (
        select(p.model_version, bucket.label("bucket"), func.count().label("n"))
        .where(*window_filter(predictions, window))
        .group_by(p.model_version, bucket)
    )


def wanted_ranks(counts: dict[str, dict[int, int]]) -> tuple[dict[str, int], dict[Bucket, dict[int, int]]]:
    """Per version its n, and per bucket which in-bucket ranks hold which overall 1-based ranks."""
    totals = {version: sum(buckets.values()) for version, buckets in counts.items()}
    wanted: dict[Bucket, dict[int, int]] = defaultdict(dict)
    for version, buckets in counts.items():
        n = totals[version]
        ranks = {n}
        for fraction in PERCENTILES:
            low = math.floor((n - 1) * fraction) + 1
            ranks.update({low, min(low + 1, n)})
        before = 0
        for bucket in sorted(buckets):
            after = before + buckets[bucket]
            for rank in ranks:
                if before < rank <= after:
                    wanted[version, bucket][rank - before] = rank
            before = after
    return totals, wanted


def refine_query(window: Window, wanted: dict[Bucket, dict[int, int]]) -> Select:
    """The wanted in-bucket order statistics, numbering only the rows of the wanted buckets."""
    p = predictions.c
    bucket = _bucket(p.latency_ms)
    numbered = (
        select(
            p.model_version,
            bucket.label("bucket"),
            p.latency_ms,
            func.row_number().over(partition_by=[p.model_version, bucket], order_by=p.latency_ms).label("rank"),
        )
        .where(*window_filter(predictions, window))
        .where(or_(*(and_(p.model_version == v, bucket == b) for v, b in wanted)))
        .subquery("numbered")
    )
    r = numbered.c
    keep = [and_(r.model_version == v, r.bucket == b, r.rank.in_(sorted(ranks))) for (v, b), ranks in wanted.items()]
    return select(r.model_version, r.bucket, r.rank, r.latency_ms).where(or_(*keep))


def latency_groups(run: Callable[[Select], Sequence[Any]], window: Window) -> list[LatencyGroup]:
    """Count, p50/p90/p99 (linear interpolation) and max per version, with ``run`` executing SQL."""
    counts: dict[str, dict[int, int]] = defaultdict(dict)
    for row in run(histogram_query(window)):
        counts[row.model_version][int(row.bucket)] = int(row.n)
    if not counts:
        return []
    totals, wanted = wanted_ranks(counts)
    values: dict[str, dict[int, float]] = defaultdict(dict)
    for row in run(refine_query(window, wanted)):
        values[row.model_version][wanted[row.model_version, int(row.bucket)][int(row.rank)]] = float(row.latency_ms)
    groups = []
    for version, n in totals.items():
        ordered = values[version]
        quantiles = []
        for fraction in PERCENTILES:
            low = math.floor((n - 1) * fraction) + 1
            quantiles.append(interpolate_percentile(ordered[low], ordered[min(low + 1, n)], n, fraction))
        p50, p90, p99 = quantiles
        groups.append(LatencyGroup(version, n, p50, p90, p99, ordered[n]))
    return groups
