"""`abkit demo`: the README's main job, as a list of steps.

Simulate into a local database (once), compute the significance report in the database,
store it as a snapshot and print it as Markdown, then start the dashboard on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import select

from abkit.cli.simulate import ScaleType
from abkit.events.store import EventStore

DEFAULT_DB = "demo/abkit.sqlite"


@dataclass(frozen=True)
class DemoContext:
    """What every step of the demo gets."""

    db: str
    seed: int
    scale: str | int
    store: EventStore
    dashboard: bool = True
    port: int = 8050


def has_events(store: EventStore) -> bool:
    """Whether the store already holds selection events."""
    from abkit.events.schema import selections

    with store.engine.connect() as conn:
        return conn.execute(select(selections.c.selection_id).limit(1)).first() is not None


def step_simulate(ctx: DemoContext) -> None:
    """Simulate into the database unless it already holds events."""
    from abkit.simulate.run import simulate_into
    from abkit.simulate.settings import settings_for_scale

    if has_events(ctx.store):
        click.echo(f"{ctx.db} already holds events: not simulating again (delete the file to start afresh).")
        return
    result = simulate_into(ctx.store, settings_for_scale(ctx.scale), ctx.seed)
    click.echo(
        f"simulated seed {ctx.seed}: {result.cases:,} cases, {result.selections:,} selections "
        f"in {result.seconds:.1f} s -> {ctx.db}"
    )


def step_report(ctx: DemoContext) -> None:
    """Compute the significance report in the database, store it as a snapshot, print it as Markdown."""
    from abkit.report.build import build_report
    from abkit.report.render_markdown import render_markdown
    from abkit.report.snapshots import store_snapshot

    report = build_report(ctx.store.engine)
    store_snapshot(ctx.store.engine, report.to_dict(), None, None, None)
    click.echo("")
    click.echo(render_markdown(report), nl=False)


def step_dashboard(ctx: DemoContext) -> None:
    """Start the dashboard on the simulated data (blocks until interrupted)."""
    if not ctx.dashboard:
        return
    from dashboards.app import create_app
    from dashboards.server import serve

    app = create_app(ctx.db)
    click.echo(f"\nabkit dashboard: http://127.0.0.1:{ctx.port}/  (Ctrl+C to stop)", err=True)
    serve(app.server, "127.0.0.1", ctx.port)


STEPS: list[Callable[[DemoContext], None]] = [step_simulate, step_report, step_dashboard]


@click.command()
@click.option("--db", default=DEFAULT_DB, show_default=True, help="SQLite file path or SQLAlchemy URL.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulated world.")
@click.option(
    "--scale",
    type=ScaleType(),
    default="default",
    show_default=True,
    help="small, default, bench or a number of selections.",
)
@click.option("--dashboard/--no-dashboard", default=True, show_default=True, help="Start the dashboard at the end.")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535), help="Dashboard port.")
def demo(db: str, seed: int, scale: str, dashboard: bool, port: int) -> None:
    """Simulate a support world (once), print its significance report and start the dashboard."""
    if "://" not in db:
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    if dashboard:
        from abkit.cli.extras import requires_extra

        with requires_extra("dashboard", "demo"):  # before the simulation, not after it
            import dashboards.app  # noqa: F401

    ctx = DemoContext(db=db, seed=seed, scale=scale, store=EventStore.open(db), dashboard=dashboard, port=port)
    for step in STEPS:
        step(ctx)
