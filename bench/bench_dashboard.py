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


def first_render_s(path: Path, repeats: int) -> dict[str, float]:
    """Median time from navigation to a drawn page (page marker set and a figure or table drawn)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.serving import make_server

    from dashboards import create_app
    from tests.browser import headless_chrome

    driver = headless_chrome()
    results: dict[str, list[float]] = {name: [] for name in [*PAGES, WARM_OVERVIEW]}
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        for _ in range(repeats):
            # A fresh app (empty snapshot cache) on a new port (cold browser cache for the first page),
            # then each page opened as a full page load, as an analyst following a link would.
            server = make_server("127.0.0.1", 0, create_app(str(path)).server, threaded=True)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            # The first page also pays the one-time load of the JavaScript bundles (plotly.js is
            # 4.8 MB); the Overview is opened again at the end with the browser cache warm.
            for name, page in [*PAGES.items(), (WARM_OVERVIEW, "/")]:
                ready = f"{name.split()[0]}-ready"
                began = time.perf_counter()
                driver.get(f"http://127.0.0.1:{server.server_port}{page}")
                WebDriverWait(driver, 60).until(
                    lambda d, ready=ready: (
                        d.find_elements(By.ID, ready)
                        and d.find_element(By.ID, ready).get_attribute("textContent")
                        and d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg, .dash-spreadsheet td")
                    )
                )
                results[name].append(time.perf_counter() - began)
            server.shutdown()
            thread.join(5)
    finally:
        driver.quit()
    return {name: statistics.median(times) for name, times in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="selections in the database")
    parser.add_argument("--db", type=Path, help="database path (default artifacts/bench/dashboard_<rows>.sqlite)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (median reported)")
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
    pages = first_render_s(path, args.repeats)
    print(
        f"database: {path} ({rows:,} selections, SQLite); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"baseline: bare GROUP BY over all selections: {baseline:.2f} s (median of {args.repeats})")
    print("first render: server = index + layout + routing + page callbacks on a fresh app;")
    print("              browser = navigation until the page's figure or table is drawn (headless Chromium)")
    print(
        f"{'page':<22} {'server, s':>10} {'baseline/server':>16} {'browser, s':>11} {'baseline/browser':>17} {'< 2 s':>6}"
    )
    for name in [*PAGES, WARM_OVERVIEW]:
        on_server = server.get(name.split()[0])
        server_cells = f"{on_server:>10.3f} {baseline / on_server:>15.0f}x" if name in server else f"{'':>10} {'':>16}"
        print(
            f"{name:<22} {server_cells} {pages[name]:>11.2f} {baseline / pages[name]:>16.1f}x"
            f" {'yes' if pages[name] < 2 else 'NO':>6}"
        )


if __name__ == "__main__":
    main()
