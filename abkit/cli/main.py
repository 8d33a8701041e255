"""`abkit`: one console script, one module per command under `abkit/cli/`.

Commands are imported only when run, so `abkit --help` stays fast and a command's heavy
imports (torch, dash) never slow down another.
"""

from __future__ import annotations

import importlib

import click

from abkit.cli.extras import extra_of, missing_extra

# name -> (module:attribute, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("abkit.cli.simulate:simulate", "Simulate a support world and write its events."),
    "ingest": ("abkit.cli.ingest:ingest", "Load prediction, selection and case files into the event store."),
    "assign": ("abkit.cli.assign:assign", "Assign advocate-case interactions to arms."),
    "experiments": (
        "abkit.cli.experiments:experiments",
        "List configured experiments; record them as phases (apply); show the phase history.",
    ),
    "report": ("abkit.cli.report:report", "Significance report per model version (JSON, Markdown, HTML)."),
    "power": (
        "abkit.cli.power:power",
        "Minimum detectable saving after 7/14/28 days and the days to detect a saving, from recent traffic.",
    ),
    "serve": ("abkit.cli.serve:serve", "Serve top-5 template suggestions over HTTP."),
    "loadtest": ("abkit.cli.loadtest:loadtest", "Open-loop load test of a running service."),
    "tune-batching": (
        "abkit.cli.tune_batching:tune_batching",
        "Time a model's forward passes and advise abkit serve's batch limits.",
    ),
    "train": ("abkit.cli.train:train", "Train template classifiers (adapt, finetune, evaluate, scaling)."),
    "dashboard": ("abkit.cli.dashboard:dashboard", "Start the Dash dashboard on a database."),
    "demo": ("abkit.cli.demo:demo", "The main job: simulate, report and start the dashboard."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[cmd_name][0].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def invoke(self, ctx: click.Context) -> object:
        # A database URL whose driver is an extra (postgresql://, trino://) fails deep in SQLAlchemy.
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as error:
            extra = extra_of(error)
            if extra is None:
                raise
            missing_extra(ctx.invoked_subcommand or "", extra)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="abkit")
def cli() -> None:
    """abkit: run and prove online A/B experiments around a reply-template classifier."""


if __name__ == "__main__":
    cli()
