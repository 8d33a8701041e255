"""`abkit simulate`: write a synthetic support world into an event store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from abkit.simulate.settings import DEMO_TEMPLATES, SCALES


class ScaleType(click.ParamType):
    """``small``, ``default``, ``bench`` or a positive number of selections."""

    name = "scale"

    def convert(self, value, param, ctx):
        text = str(value).strip().replace("_", "")
        if text in SCALES:
            return text
        if text.isdigit() and int(text) > 0:
            return int(text)
        self.fail(f"{value!r}: expected one of {', '.join(SCALES)} or a positive number of selections", param, ctx)


@click.command()
@click.option("--db", default=None, help="Event store: a SQLite file path or a SQLAlchemy URL.")
@click.option(
    "--serve-url",
    default=None,
    help="Instead of --db: drive a running `abkit serve` at this URL with simulated advocates "
    "(the service logs the events).",
)
@click.option(
    "--cases",
    "n_cases",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="With --serve-url: support cases to replay.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="With --serve-url: cases in flight at once.",
)
@click.option(
    "--templates",
    "n_templates",
    type=click.IntRange(min=6),
    default=DEMO_TEMPLATES,
    show_default=True,
    help="With --serve-url: the served model's label set size (as `abkit train demo-model --templates`).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --serve-url: file holding the service's bearer token (else $ABKIT_API_TOKEN).",
)
@click.option(
    "--summary",
    "summary_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --serve-url: also write the driver's own counts per arm (JSON) here.",
)
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
@click.option(
    "--challenger-ramp-days",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Start each challenger test at holdout 0.02 / baseline 0.88 / challenger 0.10 for this many days, "
    "then 0.02 / 0.49 / 0.49 (0: half each from the first day).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def simulate(
    db: str | None,
    serve_url: str | None,
    n_cases: int,
    concurrency: int,
    n_templates: int,
    token_file: Path | None,
    summary_path: Path | None,
    seed: int,
    scale: str | int,
    transcripts_path: Path | None,
    start: datetime | None,
    challenger_ramp_days: int,
    quiet: bool,
) -> None:
    """Simulate four model versions, challenger tests and the 2% holdout, and write the events.

    With --serve-url instead of --db, simulated advocates drive a running `abkit serve`: the
    suggestions, and so the accuracy and time saved, come from the served model.
    """
    if serve_url is not None and db is None:
        _drive(serve_url, n_cases, seed, concurrency, n_templates, token_file, summary_path, quiet)
        return
    if db is None or serve_url is not None:
        raise click.UsageError("give either --db (write a simulated world) or --serve-url (drive a running service)")
    from abkit.events.phases import PhaseError
    from abkit.events.store import EventStore
    from abkit.simulate.run import simulate_into
    from abkit.simulate.settings import settings_for_scale

    overrides: dict[str, object] = {"challenger_ramp_days": challenger_ramp_days}
    if start is not None:
        overrides["start"] = start
    try:
        settings = settings_for_scale(scale, **overrides)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    store = EventStore.open(db)
    try:
        result = simulate_into(store, settings, seed, transcripts_path=transcripts_path, progress=not quiet)
    except PhaseError as error:
        raise click.ClickException(f"--db {db} holds another timeline's experiment phases: {error}") from None
    click.echo(
        f"simulated seed {seed}: {result.cases:,} cases, {result.interactions:,} interactions, "
        f"{result.selections:,} selections, {result.predictions:,} predictions "
        f"in {result.seconds:.1f} s -> {db}"
    )
    if result.transcripts is not None:
        click.echo(f"transcripts: {result.transcripts:,} cases -> {transcripts_path}")


def _drive(
    url: str,
    n_cases: int,
    seed: int,
    concurrency: int,
    n_templates: int,
    token_file: Path | None,
    summary_path: Path | None,
    quiet: bool,
) -> None:
    import json

    from abkit.cli.extras import requires_extra
    from abkit.cli.serve import read_token

    with requires_extra("serve", "simulate --serve-url"):  # httpx
        from abkit.simulate.live import LiveError, LiveSettings, drive

    settings = LiveSettings(
        n_cases=n_cases, seed=seed, concurrency=concurrency, n_templates=n_templates, token=read_token(token_file)
    )
    try:
        result = drive(url, settings, progress=not quiet)
    except LiveError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"drove {result.cases:,} cases through {url} in {result.seconds:.1f} s: "
        f"{result.predictions:,} suggestions, {result.selections:,} selections ({result.retries} retries)"
    )
    click.echo(f"{'experiment':<20} {'arm':<10} {'suggest':>8} {'shown':>8} {'selected':>8} {'top-5':>7} {'mean s':>7}")
    for arm in result.arms:
        top5 = f"{arm.top5 / arm.selections:.1%}" if arm.selections and arm.shown else "-"
        mean = f"{arm.mean_selection_time_s:.2f}" if arm.mean_selection_time_s is not None else "-"
        click.echo(
            f"{arm.experiment:<20} {arm.arm:<10} {arm.predictions:>8,} {arm.shown:>8,} {arm.selections:>8,} "
            f"{top5:>7} {mean:>7}"
        )
    if summary_path is not None:
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        click.echo(f"summary -> {summary_path}")
