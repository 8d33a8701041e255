"""Benchmark: the size of the self-contained HTML report, partial plotly.js against plotly.py's full bundle.

One demo-sized world (as `abkit demo`: scale "default", about 200,000 selections, seed 7) is
simulated, its report built once and rendered twice side by side: as `abkit report --format html`
writes it (the vendored plotly.js basic bundle, abkit.report.plotly_bundle) and with plotly.py's full
plotly.min.js in its place (the baseline: what the report embedded before). It prints both sizes,
the ratio and the time each render took.

    .venv/bin/python bench/bench_report_html.py
    .venv/bin/python bench/bench_report_html.py --db events.sqlite   # an existing store instead
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plotly.offline import get_plotlyjs  # noqa: E402

from abkit.events import EventStore  # noqa: E402
from abkit.report import render_html as html_module  # noqa: E402
from abkit.report.build import build_report  # noqa: E402
from abkit.report.contract import Report  # noqa: E402
from abkit.simulate.run import simulate_into  # noqa: E402
from abkit.simulate.settings import settings_for_scale  # noqa: E402


def _render(report: Report, *, full: bool) -> tuple[int, float]:
    """Bytes of the page and seconds to render it, with the partial bundle or the full one."""
    chosen = html_module.plotly_js
    if full:
        html_module.plotly_js = get_plotlyjs
    try:
        start = time.perf_counter()
        page = html_module.render_html(report)
        return len(page.encode("utf-8")), time.perf_counter() - start
    finally:
        html_module.plotly_js = chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="an existing event store (default: simulate the demo's world)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        database = args.db or str(Path(directory) / "events.sqlite")
        if args.db is None:
            simulate_into(EventStore.open(database), settings_for_scale("default"), args.seed, progress=False)
        report = build_report(database)
    partial, partial_s = _render(report, full=False)
    full, full_s = _render(report, full=True)
    print(
        f"report: {len(report.versions)} versions, {len(report.comparisons)} comparisons, "
        f"{len(report.templates.rows)} templates, {len(report.timeline.rows)} timeline rows"
    )
    print(f"HTML with the partial plotly.js (candidate): {partial / 1e6:.2f} MB, rendered in {partial_s:.2f} s")
    print(f"HTML with plotly.py's full bundle (baseline): {full / 1e6:.2f} MB, rendered in {full_s:.2f} s")
    print(f"size ratio candidate / baseline: {partial / full:.3f}")


if __name__ == "__main__":
    main()
