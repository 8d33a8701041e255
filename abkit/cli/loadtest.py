"""`abkit loadtest`: open-loop load test of a running service at one or more fixed rates."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import click

from abkit.cli.options import finite


def parse_rates(values: tuple[str, ...]) -> list[float]:
    """``("10,50", "100")`` -> ``[10.0, 50.0, 100.0]``.

    Raises:
        click.BadParameter: a rate that is not a positive number.
    """
    rates = []
    for value in values:
        for part in value.split(","):
            try:
                rate = float(part)
            except ValueError:
                raise click.BadParameter(f"{part!r} is not a number", param_hint="--rps") from None
            if not 0 < rate < math.inf:
                raise click.BadParameter(f"{part!r} must be a positive, finite number", param_hint="--rps")
            rates.append(rate)
    return rates


@click.command()
@click.option("--url", required=True, help="Base URL of the service, e.g. http://127.0.0.1:8000.")
@click.option(
    "--rps",
    "rps_values",
    multiple=True,
    required=True,
    help="Requests per second; a comma list or repeated for several runs.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    callback=finite,
    help="Seconds per rate.",
)
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=256, show_default=True, help="Most requests in flight."
)
@click.option(
    "--cases",
    "cases_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Transcripts (JSON Lines); default: simulated.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the results as JSON here.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    callback=finite,
    help="Per-request timeout in seconds.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Bearer token file (else $ABKIT_API_TOKEN).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--wait-ready",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    callback=finite,
    help="Seconds to wait for GET /ready first.",
)
@click.option(
    "--pause",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    callback=finite,
    help="Seconds between rates (lets the queue drain).",
)
def loadtest(
    url: str,
    rps_values: tuple[str, ...],
    duration: float,
    concurrency: int,
    cases_file: Path | None,
    out: Path | None,
    timeout_s: float,
    token_file: Path | None,
    seed: int,
    wait_ready: float,
    pause: float,
) -> None:
    """Send suggest requests (one conversation each) at fixed rates; report latency per rate.

    Latency counts from each request's due time (no coordinated omission); the achieved rate
    is over the real elapsed time; a warning says when the client could not keep the schedule.
    """
    from abkit.cli.extras import requires_extra
    from abkit.cli.serve import read_token
    from abkit.progress import progress_bar

    with requires_extra("serve", "loadtest"):
        from abkit.loadtest.inputs import CasesError, load_cases, request_bodies, simulated_cases
        from abkit.loadtest.runner import run_rate
        from abkit.loadtest.runner import wait_ready as wait_for_ready
        from abkit.loadtest.stats import format_summary, summarize

    rates = parse_rates(rps_values)
    try:
        cases = load_cases(cases_file) if cases_file else simulated_cases(seed)
    except CasesError as error:
        raise click.UsageError(str(error)) from None
    token = read_token(token_file)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    bodies = request_bodies(cases, seed=seed)
    try:
        wait_for_ready(url, wait_ready, headers)
    except TimeoutError as error:
        raise click.ClickException(str(error)) from None
    results = []
    for index, rate in enumerate(rates):
        if index and pause > 0:
            asyncio.run(asyncio.sleep(pause))
        with progress_bar(total=int(round(rate * duration)), desc=f"{rate:g} req/s", unit="req", leave=False) as bar:
            outcomes = asyncio.run(
                run_rate(
                    url,
                    rate,
                    duration,
                    bodies,
                    concurrency=concurrency,
                    timeout_s=timeout_s,
                    headers=headers,
                    on_done=lambda _outcome: bar.update(),
                )
            )
        summary = summarize(outcomes, rate, duration)
        click.echo(format_summary(summary))
        if summary.warning:
            click.echo(f"warning: {summary.warning}", err=True)
        results.append(summary.to_dict())
    if out is not None:
        document = {
            "url": url,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "cases": str(cases_file) if cases_file else f"simulated (seed {seed})",
            "concurrency": concurrency,
            "results": results,
        }
        out.write_text(json.dumps(document, indent=2))
        click.echo(f"results -> {out}", err=True)
