"""`abkit simulate`: write a synthetic support world into an event store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from abkit.simulate.settings import SCALES


class ScaleType(click.ParamType):
    """``small``, ``default``, ``bench`` or a positive number of selections."""

    name = "scale"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        text = str(value).strip().replace("_", "")
        if text in SCALES:
            return text
        if text.isdigit() and int(text) > 0:
            return int(text)
        self.fail(f"{value!r}: expected one of {', '.join(SCALES)} or a positive number of selections", param, ctx)


@click.command()
@click.option("--db", required=True, help="Event store: a SQLite file path or a SQLAlchemy URL.")
@click.option(
    "--seed", type=int, default=7, show_default=True, help="Random seed: the same seed gives the same events."
)
@click.option(
    "--scale",
    type=ScaleType(),
    default="default",
    show_default=True,
    help=f"About how many selections: {', '.join(f'{k} = {v:,}' for k, v in SCALES.items())}, or a number.",
)
@click.option(
    "--transcripts",
    "transcripts_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the cases' transcripts (JSON Lines) to this file.",
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Day 0 of the world (YYYY-MM-DD; default 2026-01-05).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def simulate(
    db: str, seed: int, scale: str | int, transcripts_path: Path | None, start: datetime | None, quiet: bool
) -> None:
    """Simulate four model versions, challenger tests and the 2% holdout, and write the events."""
    from abkit.events.store import EventStore
    from abkit.simulate.run import simulate_into
    from abkit.simulate.settings import settings_for_scale

    settings = settings_for_scale(scale, **({"start": start} if start is not None else {}))
    store = EventStore.open(db)
    result = simulate_into(store, settings, seed, transcripts_path=transcripts_path, progress=not quiet)
    click.echo(
        f"simulated seed {seed}: {result.cases:,} cases, {result.interactions:,} interactions, "
        f"{result.selections:,} selections, {result.predictions:,} predictions "
        f"in {result.seconds:.1f} s -> {db}"
    )
    if result.transcripts is not None:
        click.echo(f"transcripts: {result.transcripts:,} cases -> {transcripts_path}")
