"""`abkit power`: what an experiment can detect after 7/14/28 days of its recent traffic, and when a saving shows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from abkit.cli.options import experiments_file_option, pre_period_days_option

if TYPE_CHECKING:
    from abkit.assignment.config import ExperimentConfig
    from abkit.report.power import ExperimentPower

_METHODS = (
    ("fixed", "fixed"),
    ("fixed + CUPED", "cuped"),
    ("sequential", "sequential"),
    ("sequential + CUPED", "sequential_cuped"),
)


@click.command()
@click.option(
    "--db",
    "database",
    default="abkit.sqlite",
    show_default=True,
    envvar="ABKIT_DB",
    help="Events: a SQLite path, a SQLAlchemy URL or a directory of Parquet/CSV exports. Also $ABKIT_DB.",
)
@click.option("--experiment", "-e", required=True, help="The experiment to plan.")
@click.option(
    "--saving",
    "saving_s",
    default=0.5,
    show_default=True,
    type=float,
    help="Saving in selection time to plan for (seconds): the days each analysis needs to detect it.",
)
@experiments_file_option(
    default=None,
    help="Experiments file whose weights to plan for (default: the experiment's latest recorded phase, "
    "else the traffic's observed shares) and whose `analysis` says which columns decide; also $ABKIT_EXPERIMENTS.",
)
@click.option(
    "--days",
    "window_days",
    default=14.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Days of the latest traffic that measure the rate and the variance.",
)
@pre_period_days_option(
    help="Days before the experiment began whose selections make the CUPED covariate (as `abkit report`)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
def power(
    database: str,
    experiment: str,
    saving_s: float,
    experiments_file: Path | None,
    window_days: float,
    pre_period_days: float,
    as_json: bool,
) -> None:
    """Minimum detectable saving after 7/14/28 days and the days to detect --saving, for the configured weights.

    Fixed-horizon and sequential (always-valid, as the report reads a sequential experiment), each
    without and with CUPED; at 80% power and a two-sided 5% level, at the interaction level.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from abkit.assignment.config import ConfigError, load_experiments
    from abkit.cli.extras import extra_of, missing_extra

    if not math.isfinite(saving_s) or saving_s <= 0:
        raise click.BadParameter(f"must be a positive number of seconds, got {saving_s!r}", param_hint="--saving")
    if "://" not in database and not Path(database).exists():
        raise click.UsageError(f"--db: no database file or export directory at {database}")
    try:
        configured = None
        if experiments_file is not None:
            experiments = load_experiments(experiments_file)
            if experiment not in experiments:
                known = ", ".join(sorted(experiments))
                raise click.UsageError(f"unknown experiment {experiment!r}; {experiments_file} has {known}")
            configured = experiments[experiment]
        plan = _plan(database, experiment, saving_s, configured, window_days, pre_period_days)
    except ModuleNotFoundError as error:
        if (extra := extra_of(error)) is not None:
            missing_extra("power", extra)
        raise
    except (ValueError, FileNotFoundError, ConfigError) as error:
        raise click.UsageError(str(error)) from None
    except SQLAlchemyError as error:
        detail = error.args[0] if error.args else error
        raise click.ClickException(f"--db {database}: {error.__class__.__name__}: {detail}") from None
    click.echo(
        json.dumps(plan.published().model_dump(mode="json"), indent=2, allow_nan=False)
        if as_json
        else render_power(plan)
    )


def _plan(
    database: str,
    experiment: str,
    saving_s: float,
    configured: ExperimentConfig | None,
    window_days: float,
    pre_period_days: float,
) -> ExperimentPower:
    from abkit.events.columns import HOLDOUT_ARM
    from abkit.report.build import open_source, plan_for
    from abkit.report.groups import Window
    from abkit.report.online_verdict import experiment_starts
    from abkit.report.power import NoTraffic, Weights, experiment_power, latest_weights, recent_window

    source = open_source(database)
    try:
        phases = tuple(source.experiment_phases())
        bounds = source.bounds(Window(experiment))
        if not bounds:
            known = sorted({p.experiment for p in phases} | {b.experiment for b in source.bounds(Window())})
            if experiment not in known and configured is None:
                listed = ", ".join(known) or "none"
                raise click.UsageError(f"unknown experiment {experiment!r}; the event store has {listed}")
            raise click.ClickException(
                f"experiment {experiment!r}: no selections in the event store, no traffic to plan from"
            )
        recent = recent_window(bounds, Window(experiment), window_days)
        assert recent is not None
        starts = experiment_starts(phases, bounds)
        groups = source.power_groups(recent, plan_for(bounds, phases), starts, pre_period_days)  # type: ignore[attr-defined]
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    weights: Weights | None = None
    weights_from = "observed shares"
    if configured is not None:
        weights, weights_from = configured.arms, "experiments file"
        analysis = configured.resolved_analysis
    else:
        recorded = latest_weights(phases, experiment)
        if recorded is not None:
            weights, weights_from = recorded
        arms = [arm for arm, _ in weights] if weights is not None else [g.arm for g in groups]
        # the report's default: sequential for a challenger test (two or more versions), else fixed
        analysis = "sequential" if len(set(arms) - {HOLDOUT_ARM}) >= 2 else "fixed"
    try:
        return experiment_power(
            experiment,
            groups,
            saving_s,
            weights=weights,
            weights_from=weights_from,
            analysis=analysis,
            pre_period_days=pre_period_days,
        )
    except NoTraffic as error:
        raise click.ClickException(f"{error} (the last {window_days:g} days)") from None


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _days(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def render_power(plan: ExperimentPower) -> str:
    """The plan as a readable table (what `abkit power` prints)."""
    weights = " ".join(f"{arm}={weight:g}" for arm, weight in plan.weights)
    rho = (
        "not measurable"
        if plan.cuped_rho is None
        else f"rho = {plan.cuped_rho:.3f} (variance x {1 - plan.cuped_rho**2:.3f})"
    )
    lines = [
        f"abkit power: experiment {plan.experiment} ({plan.analysis} analysis)",
        f"weights: {weights} (from {plan.weights_from})",
        f"traffic: {plan.interactions_per_day:,.1f} interactions/day, {plan.selections_per_interaction:.2f} selections "
        f"each, measured over {plan.days_observed:.1f} days ({plan.since:%Y-%m-%d %H:%M} to {plan.until:%Y-%m-%d %H:%M} UTC)",
        f"CUPED covariate (advocate's mean over the {plan.pre_period_days:g} days before the experiment): {rho}",
    ]
    for comparison in plan.comparisons:
        n_star = comparison.n_star
        lines += [
            "",
            f"{comparison.treatment} vs {comparison.control}: "
            f"{comparison.interactions_per_day[0]:,.1f} vs {comparison.interactions_per_day[1]:,.1f} interactions/day",
            f"  minimum detectable saving, seconds ({comparison.power:.0%} power, two-sided alpha {comparison.alpha:g}; "
            f"sequential: always-valid, n* = {n_star:,})",
        ]
        header = ["after", *(label for label, _ in _METHODS), "sequential penalty"]
        rows = [
            [
                f"{row.days:g} days",
                _seconds(row.fixed_s),
                _seconds(row.cuped_s),
                _seconds(row.sequential_s),
                _seconds(row.sequential_cuped_s),
                f"x{row.sequential_penalty:.2f}",
            ]
            for row in comparison.horizons
        ]
        needed = comparison.days_to_detect
        rows.append(
            [
                f"days for {needed.saving_s:g} s",
                *(_days(getattr(needed, key)) for _, key in _METHODS),
                "",
            ]
        )
        widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
        for cells in (header, *rows):
            lines.append("  " + "  ".join(str(cell).rjust(width) for cell, width in zip(cells, widths, strict=True)))
    if plan.notes:
        lines += ["", *(f"note: {note}" for note in plan.notes)]
    lines.append(
        "n/a: no CUPED figure (see the note), or more than ten years. The sequential columns are what a sequential experiment's verdict reads; "
        "see docs/statistics.md, Power."
    )
    return "\n".join(lines)
