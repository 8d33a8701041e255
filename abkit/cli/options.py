"""Options several commands share, under one name each (old names kept as hidden aliases)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from abkit.assignment.config import DEFAULT_EXPERIMENTS_FILE

EXPERIMENTS_ENV = "ABKIT_EXPERIMENTS"
# Names the experiments file had in earlier releases: `abkit assign --config`, `abkit report --experiments`.
# Accepted (with a warning) on every command that takes the file, never shown in --help. The name is
# --experiments-file, not --experiments, so that it never reads as a typo of --experiment NAME.
OLD_EXPERIMENTS_FILE_NAMES = ("--config", "--experiments")


def experiments_file_option(
    *, default: Path | None = DEFAULT_EXPERIMENTS_FILE, help: str = f"Experiments file (TOML); also ${EXPERIMENTS_ENV}."
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--experiments-file FILE`` as the command's ``experiments_file`` argument.

    Args:
        default: the file when neither the option nor ``$ABKIT_EXPERIMENTS`` is given (None: no file).
        help: the option's help text.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def with_experiments_file(*args: Any, experiments_file: Path | None, **kwargs: Any) -> Any:
            for old_name in OLD_EXPERIMENTS_FILE_NAMES:
                old_value = kwargs.pop(_old_parameter(old_name))
                if old_value is not None:
                    click.echo(f"warning: {old_name} is deprecated; use --experiments-file", err=True)
                    experiments_file = old_value
            return command(*args, experiments_file=experiments_file, **kwargs)

        decorated: Callable[..., Any] = with_experiments_file
        for old_name in OLD_EXPERIMENTS_FILE_NAMES:
            decorated = click.option(old_name, _old_parameter(old_name), type=_FILE, default=None, hidden=True)(
                decorated
            )
        return click.option(
            "--experiments-file",
            "experiments_file",
            type=_FILE,
            default=default,
            show_default=default is not None,
            envvar=EXPERIMENTS_ENV,
            help=help,
        )(decorated)

    return decorate


_FILE = click.Path(dir_okay=False, path_type=Path)

# abkit.report.online_queries.DEFAULT_PRE_PERIOD_DAYS, written out so that the CLI starts without
# importing the report's queries (tests/test_cli_options.py keeps the two equal).
DEFAULT_PRE_PERIOD_DAYS = 28.0
# The most days a datetime.timedelta holds (timedelta.max.days), as build_report allows.
MAX_PERIOD_DAYS = 999_999_999


def pre_period_days_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--pre-period-days DAYS`` (> 0) as the command's ``pre_period_days``: the CUPED covariate's pre-period."""
    return click.option(
        "--pre-period-days",
        default=DEFAULT_PRE_PERIOD_DAYS,
        show_default=True,
        type=click.FloatRange(min=0, min_open=True, max=MAX_PERIOD_DAYS),
        callback=finite,
        help=help,
    )


def finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """An option callback refusing NaN and infinity, which click's FloatRange lets through."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}", ctx=ctx, param=param)
    return value


def _old_parameter(old_name: str) -> str:
    return "old_" + old_name.lstrip("-").replace("-", "_")
