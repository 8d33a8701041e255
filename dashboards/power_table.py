"""The power of running experiments (the report's ``power``) as one table: what each test can detect, and when.

One row per (experiment, comparison, analysis): the smallest saving detectable at 80% power after 7,
14 and 28 days of the experiment's latest traffic under its configured weights, and the days it
needs to detect the report's smallest saving worth acting on. ``verdict_reads`` marks the analysis
the experiment's verdict uses; CUPED rows appear only where the covariate was measurable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from dashboards.fields import columns_frame, get, shares

HORIZONS_DAYS = (7, 14, 28)
# (label, key of the report's figures, uses CUPED)
METHODS = (
    ("fixed", "fixed", False),
    ("fixed + CUPED", "cuped", True),
    ("sequential", "sequential", False),
    ("sequential + CUPED", "sequential_cuped", True),
)
POWER_COLUMNS = (
    "experiment",
    "comparison",
    "analysis",
    "verdict_reads",
    "interactions_per_day",
    *(f"mde_{days}_days_s" for days in HORIZONS_DAYS),
    "saving_s",
    "days_to_detect",
    "weights",
    "notes",
)


def verdict_method(analysis: str | None, has_cuped: bool) -> str:
    """The analysis a verdict reads: fixed-horizon unadjusted, or the sequence (CUPED-adjusted when measurable)."""
    if analysis == "sequential":
        return "sequential + CUPED" if has_cuped else "sequential"
    return "fixed"


def power_table(report: Mapping[str, Any], version: str | None = None) -> pd.DataFrame:
    """Rows of every running experiment's comparisons (those involving ``version`` when given)."""
    rows = []
    for entry in report.get("power") or []:
        has_cuped = get(entry, "cuped", "rho") is not None
        reads = verdict_method(entry.get("analysis"), has_cuped)
        weights = shares(entry.get("weights"), lambda weight: f"{weight:g}")
        for comparison in entry.get("comparisons") or []:
            arms = (comparison.get("treatment"), comparison.get("control"))
            if version and version not in arms:
                continue
            by_days = {row.get("days"): row for row in comparison.get("mde_s") or []}
            needed = comparison.get("days_to_detect") or {}
            for label, key, adjusted in METHODS:
                if adjusted and not has_cuped:
                    continue
                rows.append(
                    {
                        "experiment": entry.get("experiment"),
                        "comparison": f"{arms[0]} vs {arms[1]}",
                        "analysis": label,
                        "verdict_reads": label == reads,
                        "interactions_per_day": sum(comparison.get("interactions_per_day") or []),
                        **{f"mde_{days}_days_s": get(by_days.get(float(days)), key) for days in HORIZONS_DAYS},
                        "saving_s": needed.get("saving_s"),
                        "days_to_detect": needed.get(key),
                        "weights": weights,
                        "notes": "; ".join(entry.get("notes") or []),
                    }
                )
    return columns_frame(rows, POWER_COLUMNS)
