"""`abkit demo`: the README's main job, as a list of steps.

Each step is a function of the demo's context; later steps (the full report, the
dashboard) are added by appending one function to :data:`STEPS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import func, select

from abkit.cli.simulate import ScaleType
from abkit.events import columns as c
from abkit.events.store import EventStore

DEFAULT_DB = "demo/abkit.sqlite"


@dataclass(frozen=True)
class DemoContext:
    """What every step of the demo gets."""

    db: str
    seed: int
    scale: str | int
    store: EventStore


@dataclass(frozen=True)
class ArmSummary:
    """Selections of one model version in one arm (holdout or treatment)."""

    model_version: str
    arm: str
    selections: int
    mean_selection_time_s: float


def has_events(store: EventStore) -> bool:
    """Whether the store already holds selection events."""
    from abkit.events.schema import selections

    with store.engine.connect() as conn:
        return conn.execute(select(selections.c.selection_id).limit(1)).first() is not None


def arm_summaries(store: EventStore) -> list[ArmSummary]:
    """Selections and mean selection time per model version and arm, aggregated in SQL."""
    from abkit.events.schema import selections

    query = (
        select(
            selections.c.model_version,
            selections.c.arm,
            func.count().label("n"),
            func.avg(selections.c.selection_time_s).label("mean_s"),
        )
        .group_by(selections.c.model_version, selections.c.arm)
        .order_by(selections.c.model_version, selections.c.arm)
    )
    with store.engine.connect() as conn:
        return [ArmSummary(version, arm, int(n), float(mean)) for version, arm, n, mean in conn.execute(query)]


def format_summaries(rows: list[ArmSummary]) -> str:
    """A plain-text table: per model version, the holdout and treatment figures and the saving."""
    lines = [f"{'version':<8} {'arm':<8} {'selections':>11} {'mean s':>8} {'saving s':>9}"]
    by_version: dict[str, dict[str, ArmSummary]] = {}
    for row in rows:
        by_version.setdefault(row.model_version, {})[row.arm] = row
    for version, arms in by_version.items():
        holdout = arms.get(c.HOLDOUT_ARM)
        for arm in sorted(arms, key=lambda name: name != c.HOLDOUT_ARM):
            row = arms[arm]
            saving = ""
            if holdout is not None and arm != c.HOLDOUT_ARM:
                saving = f"{holdout.mean_selection_time_s - row.mean_selection_time_s:.2f}"
            lines.append(f"{version:<8} {arm:<8} {row.selections:>11,} {row.mean_selection_time_s:>8.2f} {saving:>9}")
    return "\n".join(lines)


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


def step_summary(ctx: DemoContext) -> None:
    """Print selection counts and mean selection time per model version and arm."""
    click.echo("\nSelection time per model version and arm (saving = holdout mean - arm mean):")
    click.echo(format_summaries(arm_summaries(ctx.store)))


STEPS: list[Callable[[DemoContext], None]] = [step_simulate, step_summary]


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
def demo(db: str, seed: int, scale: str) -> None:
    """Simulate a support world (once) and summarise selection time per model version."""
    if "://" not in db:
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(db=db, seed=seed, scale=scale, store=EventStore.open(db))
    for step in STEPS:
        step(ctx)
