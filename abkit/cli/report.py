"""`abkit report`: the significance report of an event database, a Parquet/CSV export, or tables on Spark."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from abkit.cli.options import experiments_file_option, pre_period_days_option

DATETIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


@click.command()
@click.option(
    "--db",
    "database",
    default="abkit.sqlite",
    show_default=True,
    envvar="ABKIT_DB",
    help="Events: a SQLite path, a SQLAlchemy URL (duckdb:///, postgresql://, trino://) or a directory "
    "of Parquet/CSV exports (selections.parquet, predictions.parquet, cases.parquet; duckdb:/// and "
    "exports need the duckdb extra). Also $ABKIT_DB.",
)
@click.option("--experiment", "-e", default=None, help="Only this experiment (default: all).")
@click.option("--since", type=click.DateTime(DATETIME_FORMATS), default=None, help="Events at or after (UTC).")
@click.option("--until", type=click.DateTime(DATETIME_FORMATS), default=None, help="Events before (UTC).")
@click.option("--top-n", default=50, show_default=True, type=click.IntRange(min=1), help="Templates in the table.")
@click.option(
    "--min-effect-s",
    default=0.25,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Smallest difference in selection time worth acting on (s): the verdict's line between "
    "'no detectable difference' and 'keep collecting'.",
)
@experiments_file_option(
    default=None,
    help='Experiments file whose `analysis = "sequential" | "fixed"` the verdicts use '
    "(default: sequential for challenger tests, fixed for standing holdouts). Also $ABKIT_EXPERIMENTS.",
)
@pre_period_days_option(
    help="Days before an experiment began whose selections make the CUPED covariate (the advocate's mean)."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["json", "markdown", "html"]),
    default="markdown",
    show_default=True,
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: standard output).")
@click.option("--store", is_flag=True, help="Also save the report as a snapshot in table report_snapshots (--db).")
@click.option(
    "--spark",
    "spark_master",
    default=None,
    envvar="ABKIT_SPARK",
    help="Run the aggregates on Spark SQL instead of --db: local[N], spark://host:7077, yarn, k8s://..., "
    "sc://host:15002 (Spark Connect) or 'active' (the session spark-submit configured). Needs --tables; "
    "--db then only receives the --store snapshot. Also $ABKIT_SPARK.",
)
@click.option(
    "--tables",
    default=None,
    envvar="ABKIT_TABLES",
    help="With --spark: where the event tables are: an export directory or URI (s3a://, gs://, abfss://, "
    "hdfs://: one Parquet folder per table) or a catalog database (abkit, main.abkit). Also $ABKIT_TABLES.",
)
def report(
    database: str,
    experiment: str | None,
    since: datetime | None,
    until: datetime | None,
    top_n: int,
    min_effect_s: float,
    experiments_file: Path | None,
    pre_period_days: float,
    output_format: str,
    out: Path | None,
    store: bool,
    spark_master: str | None,
    tables: str | None,
) -> None:
    """Significance report per model version (JSON, Markdown or self-contained HTML)."""
    from sqlalchemy.exc import SQLAlchemyError

    from abkit.assignment.config import ConfigError, load_experiments
    from abkit.cli.extras import extra_of, missing_extra
    from abkit.events.engine import database_url
    from abkit.report.build import build_report, unknown_experiment
    from abkit.report.render_html import render_html
    from abkit.report.render_markdown import render_json, render_markdown
    from abkit.report.snapshots import store_snapshot
    from abkit.report.spark_source import SparkSource

    is_export = "://" not in database and Path(database).is_dir()
    if (spark_master is None) != (tables is None):
        raise click.UsageError("--spark and --tables go together (where to run, and where the event tables are)")
    if spark_master is None and not is_export and "://" not in database and not Path(database).exists():
        raise click.UsageError(f"--db: no database file or export directory at {database}")
    if store and is_export:
        raise click.UsageError("--store needs a database, not an export directory")
    try:
        declared = None
        if experiments_file is not None:
            declared = {
                name: config.analysis
                for name, config in load_experiments(experiments_file).items()
                if config.analysis is not None
            }
        events = database if spark_master is None else SparkSource(str(tables), master=spark_master)
        try:
            built = build_report(
                events,
                experiment=experiment,
                since=since,
                until=until,
                top_n=top_n,
                min_effect_s=min_effect_s,
                analyses=declared,
                pre_period_days=pre_period_days,
            )
            if (unknown := unknown_experiment(events, built)) is not None:
                raise click.UsageError(unknown)
        finally:
            if not isinstance(events, str):
                events.close()
    except ModuleNotFoundError as error:
        if (extra := extra_of(error)) is not None:  # a driver: postgresql://, trino://
            missing_extra("report", extra)
        raise click.UsageError(str(error)) from None  # pyspark's own message (abkit.report.spark_source)
    except (ValueError, FileNotFoundError, ConfigError) as error:
        raise click.UsageError(str(error)) from None
    except SQLAlchemyError as error:
        detail = error.args[0] if error.args else error
        where = f"--db {database}" if spark_master is None else f"--spark {spark_master} --tables {tables}"
        raise click.ClickException(f"{where}: {error.__class__.__name__}: {detail}") from None
    renderer = {"json": render_json, "markdown": render_markdown, "html": render_html}[output_format]
    text = renderer(built)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    if store:
        snapshot_id = store_snapshot(database_url(database), built.to_dict(), experiment, since, until)
        click.echo(f"stored snapshot {snapshot_id}", err=True)
