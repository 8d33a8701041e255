"""First render of each dashboard page on a large database vs a bare aggregate over its events.

The dashboard reads stored report snapshots, so a page costs the same on ten million
selections as on a thousand; the baseline is the cheapest query that would answer the
Overview from raw events (one GROUP BY over all selections). Both run here, in one process,
on the same database, and the script prints their ratio.

    .venv/bin/python bench/bench_dashboard.py                 # 10M selections (built once, cached)
    .venv/bin/python bench/bench_dashboard.py --rows 1000000  # quicker

The database is built on first use under artifacts/bench/ (ignored by git): selections only,
four model versions over a year, a 2% holdout and 640 templates, then one report snapshot is
computed from it with ``abkit.report`` (timed too, as the cost the snapshot moves off the page).

In the browser, each run starts a fresh headless Chromium (empty cache) and a fresh app and
opens every page in turn, so the first page is a fresh browser's first visit; the dashboard as
shipped (vendored partial plotly.js) and the baseline with Dash's full plotly.js alternate run
by run, and the script prints both, their ratio, and the first visit's timeline (navigation and
resource timing, long tasks) for each.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from abkit.events import EventStore  # noqa: E402
from abkit.events.schema import selections  # noqa: E402
from abkit.report.build import build_report  # noqa: E402
from abkit.report.snapshots import store_snapshot  # noqa: E402

PAGES = {
    "overview": "/",
    "over-time": "/over-time",
    "challengers": "/challengers",
    "templates": "/templates",
    "health": "/health",
}
WARM_OVERVIEW = "overview (warm cache)"
CHUNK = 500_000
START = datetime(2025, 1, 6)
BASELINE_SQL = (
    "SELECT model_version, arm, COUNT(*), AVG(selection_time_s), SUM(selection_time_s * selection_time_s) "
    "FROM selections GROUP BY model_version, arm"
)


def build_database(path: Path, rows: int, seed: int = 1) -> None:
    """Write ``rows`` selections with the driver's executemany, then store one report snapshot."""
    store = EventStore.open(str(path))  # the abkit schema
    # Secondary indexes are dropped for the load and rebuilt after it (one sort each instead of
    # ten million B-tree inserts); the primary key stays.
    for index in selections.indexes:
        index.drop(store.engine)
    store.engine.dispose()
    rng = np.random.default_rng(seed)
    year_s = 365 * 24 * 3600
    popularity = 1.0 / np.arange(1, 641) ** 1.1
    popularity /= popularity.sum()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            offsets = np.sort(rng.integers(0, year_s, n))
            version = np.minimum(offsets * 4 // year_s, 3)  # v1..v4, a quarter each
            holdout = rng.random(n) < 0.02
            seconds = np.where(holdout, rng.normal(19.0, 5.0, n), rng.normal(13.5 - 0.4 * version, 4.0, n))
            templates = rng.choice(640, n, p=popularity)
            interaction = (start + np.arange(n)) // 3  # about three selections per advocate-case interaction
            ids = np.arange(start, start + n)
            version_names = np.array(["v1", "v2", "v3", "v4"])[version]
            # Columns as Python lists, zipped into rows: the driver's executemany is the fast path.
            records = zip(
                (f"s{i}" for i in ids.tolist()),
                (f"c{i}" for i in interaction.tolist()),
                (f"m{i}" for i in ids.tolist()),
                (f"a{i % 500}" for i in interaction.tolist()),
                ["standing"] * n,
                np.where(holdout, "holdout", version_names).tolist(),
                version_names.tolist(),
                (f"T{t:04d}" for t in templates.tolist()),
                np.maximum(seconds, 0.5).tolist(),
                ((START + timedelta(seconds=o)).isoformat(sep=" ") for o in offsets.tolist()),
                [None] * n,
                strict=True,
            )
            conn.executemany("INSERT INTO selections VALUES (?,?,?,?,?,?,?,?,?,?,?)", records)
            conn.commit()
            print(f"  wrote {start + n:,} selections", file=sys.stderr)
    store = EventStore.open(str(path))
    for index in selections.indexes:
        index.create(store.engine)
    store.register_experiment("standing", "bench", [("holdout", 0.02), ("v4", 0.98)])
    began = time.perf_counter()
    report = build_report(store.engine).to_dict()
    print(
        f"  report computed from {rows:,} selections in {time.perf_counter() - began:.1f} s "
        "(this is what the stored snapshot saves every page)",
        file=sys.stderr,
    )
    store_snapshot(store.engine, report)
    store.engine.dispose()


def bare_aggregate_s(path: Path, repeats: int) -> float:
    """Median time of the one-GROUP-BY baseline over every selection."""
    times = []
    for _ in range(repeats):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        began = time.perf_counter()
        conn.execute(BASELINE_SQL).fetchall()
        times.append(time.perf_counter() - began)
        conn.close()
    return statistics.median(times)


def _post_callback(client, app, output_part: str, values: dict[tuple[str, str], object]) -> dict:
    """Call the callback whose output names contain ``output_part``, as the browser would."""
    key = next(k for k in app.callback_map if output_part in k)
    spec = app.callback_map[key]
    payload = {
        "output": key,
        "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in key.strip(".").split("...")],
        "inputs": [{**i, "value": values.get((i["id"], i["property"]))} for i in spec["inputs"]],
        "state": [{**st, "value": values.get((st["id"], st["property"]))} for st in spec["state"]],
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in spec["inputs"]],
    }
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code == 200, response.data[:500]
    return response.get_json()["response"]


def server_render_s(path: Path, repeats: int) -> dict[str, float]:
    """Median server time of a page's first render: index, layout, routing and page callbacks.

    This is the part that could grow with the event volume; a fresh app each time, so the
    snapshot is read from the database and parsed, not taken from the cache.
    """
    from dashboards import create_app

    results: dict[str, list[float]] = {name: [] for name in PAGES}
    for _ in range(repeats):
        for name, page in PAGES.items():
            app = create_app(str(path))
            client = app.server.test_client()
            began = time.perf_counter()
            client.get(page)
            client.get("/_dash-layout")
            _post_callback(client, app, "_pages_content", {("_pages_location", "pathname"): page})
            chosen = _post_callback(client, app, "snapshot.data", {("refresh-generation", "data"): 0})
            _post_callback(client, app, f"{name}-ready", {("snapshot", "data"): chosen["snapshot"]["data"]})
            results[name].append(time.perf_counter() - began)
    return {name: statistics.median(times) for name, times in results.items()}


# Installed before any page script runs (CDP Page.addScriptToEvaluateOnNewDocument): on every
# animation frame it checks whether the page is drawn and stamps performance.now() (ms since
# navigation start) the first time it is, and it records the main thread's long tasks.
PAGE_PROBE = """
window.__abkit = {marks: {}, longTasks: []};
new PerformanceObserver(list => list.getEntries().forEach(
    e => window.__abkit.longTasks.push([e.startTime, e.duration]))).observe({type: 'longtask', buffered: true});
(function check() {
  const marks = window.__abkit.marks;
  const stamp = key => { if (!(key in marks)) marks[key] = performance.now(); };
  if (window.Plotly) stamp('plotly');
  const ready = document.querySelector('[id$="-ready"]');
  const graphs = Array.from(document.querySelectorAll('.dash-graph'));
  const tables = Array.from(document.querySelectorAll('.dash-table-container'));
  // Every dashboard figure has a title; dcc.Graph's placeholder plot (drawn before the page
  // callback answers) has none, so a drawn title means the real figure is on screen.
  if (graphs.length && graphs.every(g => g.querySelector('.main-svg .gtitle'))) stamp('graphs');
  if (ready && ready.textContent && 'graphs' in marks && tables.every(t => t.querySelector('tr'))) stamp('drawn');
  else requestAnimationFrame(check);
})();
"""
TIMELINE_JS = """
const nav = performance.getEntriesByType('navigation')[0];
return {
  marks: window.__abkit.marks,
  long_tasks: window.__abkit.longTasks,
  response_end: nav.responseEnd, dom_interactive: nav.domInteractive,
  resources: performance.getEntriesByType('resource').map(
      e => [new URL(e.name).pathname, e.startTime, e.responseEnd, e.transferSize, e.decodedBodySize]),
};
"""
FULL_PLOTLY_PATH = "/_dash-component-suites/plotly/package_data/plotly.min.js"


@dataclass(frozen=True)
class Visit:
    """One page load: when it was drawn and what the browser's performance timeline says."""

    drawn_s: float  # navigation start -> ready marker set, every figure and table drawn
    plotly_s: float | None  # navigation start -> window.Plotly defined
    dom_interactive_s: float  # the page's own scripts parsed and run
    long_task_s: float  # main-thread tasks over 50 ms, summed
    resources: tuple[tuple[str, float, float, int, int], ...]  # path, start ms, end ms, bytes sent, bytes

    @property
    def script_kib(self) -> float:
        """JavaScript transferred over the network (cached files count 0)."""
        return sum(r[3] for r in self.resources if r[0].endswith(".js")) / 1024

    @property
    def full_plotly_fetched(self) -> bool:
        return any(r[0] == FULL_PLOTLY_PATH for r in self.resources)


# One asynchronous script waits in the page for the probe's stamp: polling from here would put a
# WebDriver round trip on the page's main thread every few milliseconds while it loads.
WAIT_DRAWN_JS = """
const done = arguments[arguments.length - 1];
(function wait() { if ('drawn' in window.__abkit.marks) done(true); else setTimeout(wait, 100); })();
"""


def _visit(driver, url: str) -> Visit:
    driver.get(url)
    driver.set_script_timeout(60)
    driver.execute_async_script(WAIT_DRAWN_JS)
    timeline = driver.execute_script(TIMELINE_JS)
    marks = timeline["marks"]
    return Visit(
        drawn_s=marks["drawn"] / 1000,
        plotly_s=marks["plotly"] / 1000 if "plotly" in marks else None,
        dom_interactive_s=timeline["dom_interactive"] / 1000,
        long_task_s=sum(duration for _, duration in timeline["long_tasks"]) / 1000,
        resources=tuple(tuple(r) for r in timeline["resources"]),
    )


def browser_pass(path: Path, *, full_plotly: bool) -> dict[str, Visit]:
    """Every page opened in turn by a fresh browser against a fresh app.

    A new headless Chromium (empty profile: no HTTP or code cache) and a new app (empty
    snapshot cache); each page is opened as a full page load, as an analyst following a link
    would. The first page pays the one-time load of the JavaScript bundles; the Overview is
    opened again at the end with the cache warm.

    Args:
        path: the SQLite database.
        full_plotly: the baseline: Dash's full plotly.js instead of the dashboard's partial one.
    """
    from werkzeug.serving import make_server

    from dashboards import create_app
    from tests.browser import headless_chrome

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, create_app(str(path), full_plotly=full_plotly).server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    driver = headless_chrome()
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PAGE_PROBE})
        return {
            name: _visit(driver, f"http://127.0.0.1:{server.server_port}{page}")
            for name, page in [*PAGES.items(), (WARM_OVERVIEW, "/")]
        }
    finally:
        driver.quit()
        server.shutdown()
        thread.join(5)


def _median(visits: list[Visit], field: str) -> float:
    return statistics.median(getattr(visit, field) or 0.0 for visit in visits)


def print_timeline(label: str, visits: list[Visit], top: int) -> None:
    """The first visit's timeline (medians over the fresh browsers) and its slowest downloads."""
    print(
        f"  {label:<26} drawn {_median(visits, 'drawn_s'):5.2f} s | scripts run (domInteractive) "
        f"{_median(visits, 'dom_interactive_s'):5.2f} s | window.Plotly {_median(visits, 'plotly_s'):5.2f} s | "
        f"long tasks {_median(visits, 'long_task_s'):5.2f} s | JS {_median(visits, 'script_kib'):6.0f} KiB | "
        f"full plotly.js fetched: {'yes' if any(v.full_plotly_fetched for v in visits) else 'no'}"
    )
    last = visits[-1]
    for resource, began, ended, _, size in sorted(last.resources, key=lambda r: r[1] - r[2])[:top]:
        print(f"      {began:6.0f}-{ended:6.0f} ms {size / 1024:7.0f} KiB  {resource}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="selections in the database")
    parser.add_argument("--db", type=Path, help="database path (default artifacts/bench/dashboard_<rows>.sqlite)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--top", type=int, default=6, help="downloads listed in the first-visit timeline")
    args = parser.parse_args()
    path = args.db or ROOT / "artifacts" / "bench" / f"dashboard_{args.rows}.sqlite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {path} ({args.rows:,} selections)...", file=sys.stderr)
        build_database(path, args.rows)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM selections").fetchone()[0]
    baseline = bare_aggregate_s(path, args.repeats)
    server = server_render_s(path, args.repeats)
    # Candidate (partial plotly.js) and baseline (Dash's full bundle) alternate, so both see the
    # same machine load.
    modes = {"partial plotly.js": False, "full plotly.js": True}
    visits: dict[str, dict[str, list[Visit]]] = {mode: {name: [] for name in [*PAGES, WARM_OVERVIEW]} for mode in modes}
    for _ in range(args.repeats):
        for mode, full_plotly in modes.items():
            for name, visit in browser_pass(path, full_plotly=full_plotly).items():
                visits[mode][name].append(visit)
    partial = {name: _median(v, "drawn_s") for name, v in visits["partial plotly.js"].items()}
    full = {name: _median(v, "drawn_s") for name, v in visits["full plotly.js"].items()}
    print(
        f"database: {path} ({rows:,} selections, SQLite); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"baseline: bare GROUP BY over all selections: {baseline:.2f} s (median of {args.repeats})")
    print("first render: server = index + layout + routing + page callbacks on a fresh app;")
    print("              browser = navigation start until the page's figures and tables are drawn (headless")
    print(f"              Chromium, a fresh browser per run, medians of {args.repeats}); full = Dash's own plotly.js")
    print(
        f"{'page':<22} {'server, s':>10} {'baseline/server':>16} {'browser full, s':>16} {'browser, s':>11}"
        f" {'full/now':>9} {'baseline/browser':>17} {'< 2 s':>6}"
    )
    for name in [*PAGES, WARM_OVERVIEW]:
        on_server = server.get(name.split()[0])
        server_cells = f"{on_server:>10.3f} {baseline / on_server:>15.0f}x" if name in server else f"{'':>10} {'':>16}"
        print(
            f"{name:<22} {server_cells} {full[name]:>16.2f} {partial[name]:>11.2f} {full[name] / partial[name]:>8.2f}x"
            f" {baseline / partial[name]:>16.1f}x {'yes' if partial[name] < 2 else 'NO':>6}"
        )
    first = next(iter(PAGES))
    print(f"first visit of a fresh browser ({first}), medians; slowest downloads of the last run:")
    for mode in modes:
        print_timeline(mode, visits[mode][first], args.top)


if __name__ == "__main__":
    main()
