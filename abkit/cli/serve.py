"""`abkit serve`: the suggestion service over HTTP."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import click

from abkit.assignment.config import DEFAULT_HOLDOUT_WEIGHT, ConfigError, check_holdout_weight
from abkit.cli.options import experiments_file_option
from abkit.serving.token_cache import DEFAULT_CACHE_MESSAGES

TOKEN_ENV = "ABKIT_API_TOKEN"


def read_token(token_file: Path | None) -> str | None:
    """The bearer token from ``token_file`` or ``$ABKIT_API_TOKEN`` (file first); None if neither.

    Raises:
        click.UsageError: the file is unreadable or empty.
    """
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise click.UsageError(f"--token-file {token_file}: {error.strerror}") from None
        if not token:
            raise click.UsageError(f"--token-file {token_file}: the file is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None


def _holdout_weight(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """--holdout-weight, checked as the arguments are parsed: a bad one stops before any model loads."""
    try:
        return check_holdout_weight(value)
    except ConfigError as error:
        raise click.BadParameter(str(error)) from None


@click.command()
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Serving directory; repeat for a challenger test (the first is the baseline and scores the holdout).",
)
@click.option(
    "--db",
    default="abkit.sqlite",
    show_default=True,
    envvar="ABKIT_DB",
    help="Event store: SQLite path or database URL.",
)
@click.option(
    "--experiment", default=None, help="Experiment from --experiments-file (default: standing holdout + first model)."
)
@experiments_file_option()
@click.option(
    "--holdout-weight",
    type=float,
    default=DEFAULT_HOLDOUT_WEIGHT,
    show_default=True,
    callback=_holdout_weight,
    help="Holdout share of the standing experiment, in (0, 1).",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind; any non-loopback address requires a token."
)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"File holding the bearer token (else ${TOKEN_ENV}).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--dtype",
    default="auto",
    show_default=True,
    help="auto (bf16/fp16 on CUDA, float32 on CPU), float32, float16, bfloat16.",
)
@click.option("--cpu-threads", type=int, default=0, show_default=True, help="Torch CPU threads (0: torch's default).")
@click.option(
    "--token-cache-messages",
    type=click.IntRange(min=0),
    default=DEFAULT_CACHE_MESSAGES,
    show_default=True,
    help="Messages whose token ids are kept for the next requests of their conversation (0: none).",
)
@click.option("--max-batch-size", type=int, default=32, show_default=True, help="Requests per forward pass.")
@click.option("--max-batch-tokens", type=int, default=16_384, show_default=True, help="Padded tokens per forward pass.")
@click.option("--max-wait-ms", type=float, default=0.0, show_default=True, help="Extra wait for a fuller batch.")
@click.option(
    "--max-padding",
    type=click.FloatRange(0, 1),
    default=0.25,
    show_default=True,
    help="Largest share of a batch's padded tokens that may be padding (1: no limit).",
)
@click.option("--max-queue", type=int, default=256, show_default=True, help="Queued requests before 429.")
@click.option(
    "--deadline-ms", type=float, default=2000.0, show_default=True, help="Default request deadline (504 after)."
)
@click.option("--max-body-bytes", type=int, default=1_000_000, show_default=True, help="Larger request bodies get 413.")
@click.option(
    "--max-message-chars",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Longest message text accepted (422 beyond), checked before the tokenizer; a 512-token window is "
    "about 2,000 characters.",
)
@click.option(
    "--read-timeout-s",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Time a client has to send a whole request (headers and body) before a 408 and the connection closed.",
)
@click.option("--max-pending-events", type=int, default=50_000, show_default=True, help="Buffered events before 503.")
@click.option(
    "--durable-events/--buffered-events",
    default=True,
    show_default=True,
    help="Answer a selection or case only once it is committed to the database, so a crash of the service "
    "(SIGKILL, OOM) loses no acknowledged one; or answer from memory, where a crash loses the last ~0.5 s "
    "of them. Predictions are always buffered. See docs/serving.md, Durability.",
)
@click.option(
    "--spill-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where events still unwritten after the shutdown flush are saved (JSON Lines for abkit ingest).",
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
def serve(
    models: tuple[Path, ...],
    db: str,
    experiment: str | None,
    experiments_file: Path,
    holdout_weight: float,
    host: str,
    port: int,
    token_file: Path | None,
    device: str,
    dtype: str,
    cpu_threads: int,
    token_cache_messages: int,
    max_batch_size: int,
    max_batch_tokens: int,
    max_wait_ms: float,
    max_padding: float,
    max_queue: int,
    deadline_ms: float,
    max_body_bytes: int,
    max_message_chars: int,
    read_timeout_s: float,
    max_pending_events: int,
    durable_events: bool,
    spill_dir: Path,
    log_level: str,
) -> None:
    """Serve top-5 template suggestions with a holdout, logging every prediction and selection."""
    from abkit.assignment import load_experiments, standing_experiment
    from abkit.cli.extras import requires_extra
    from abkit.events import EventStore, connect

    with requires_extra("serve", "serve"):
        import torch
        import uvicorn
        from transformers.utils import logging as hf_logging

        from abkit.serving.app import create_app
        from abkit.serving.batcher import BatcherSettings
        from abkit.serving.scorer import hf_model_slot
        from abkit.serving.server import LOOPBACK_HOSTS, uvicorn_config
        from abkit.serving.service import ServiceSettings, SuggestionService
        from abkit.serving.writer import EventWriter, WriterSettings

    hf_logging.disable_progress_bar()  # no "Loading weights" bars in service logs
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One request's messages are a handful of short texts: the Rust tokenizer's thread pool costs more than it saves.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if cpu_threads > 0:
        torch.set_num_threads(cpu_threads)
    token = read_token(token_file)
    if host not in LOOPBACK_HOSTS and token is None:
        raise click.UsageError(f"--host {host} is reachable from other machines: give --token-file or set ${TOKEN_ENV}")
    try:
        slots = [
            hf_model_slot(
                directory,
                device=device,
                dtype=dtype,
                token_cache_messages=token_cache_messages,
            )
            for directory in models
        ]
        if experiment is None:
            config = standing_experiment(slots[0].model_version, holdout_weight=holdout_weight)
        else:
            configured = load_experiments(experiments_file)
            if experiment not in configured:
                raise click.UsageError(
                    f"unknown experiment {experiment!r}; {experiments_file} has {sorted(configured)}"
                )
            config = configured[experiment]
        batcher = BatcherSettings(
            max_batch_size=max_batch_size,
            max_batch_tokens=max_batch_tokens,
            max_wait_s=max_wait_ms / 1000,
            max_padding=max_padding,
            max_queue=max_queue,
        )
        engine = connect(db)
        writer = EventWriter(
            lambda: EventStore(engine),
            setup=_register(config, models, started=datetime.now(UTC).replace(tzinfo=None)),
            settings=WriterSettings(max_pending=max_pending_events),
            spill_dir=spill_dir,
        )
        settings = ServiceSettings(
            batcher=batcher,
            deadline_s=deadline_ms / 1000,
            max_message_chars=max_message_chars,
            settle_heap=True,
            durable_events=durable_events,
        )
        service = SuggestionService(slots, config, writer, settings)
        app = create_app(service, token=token, max_body_bytes=max_body_bytes)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        raise click.UsageError(str(error)) from None
    click.echo(
        f"serving {[s.model_version for s in slots]} under experiment {config.name!r} on http://{host}:{port} (docs: /docs)",
        err=True,
    )
    uvicorn.Server(uvicorn_config(app, host, port, log_level=log_level, read_timeout_s=read_timeout_s)).run()


def _register(config, models: tuple[Path, ...], *, started: datetime):
    """Apply the served experiment's definition as of ``started`` (a new phase if it changed) and
    record model versions the store does not know yet, before the first event is written."""
    from dataclasses import asdict

    from sqlalchemy import select

    from abkit.events.phases import PhaseError
    from abkit.events.schema import model_versions
    from abkit.training.serving_dir import read_metadata

    metadata = [read_metadata(directory) for directory in models]
    log = logging.getLogger("abkit.serving")

    def setup(store) -> None:
        try:
            applied = store.apply_experiment(config, at=started)
        except PhaseError as error:
            # A replica started later with another definition: its phase is the one in force.
            # Events must still be written, so this is reported, not retried.
            log.error("experiment %r: this service's definition was not recorded: %s", config.name, error)
        else:
            since = applied.started_at.isoformat(sep=" ", timespec="seconds")
            change = "new phase" if applied.created else "unchanged, phase"
            log.info("experiment %r: %s %d (since %s UTC)", config.name, change, applied.phase, since)
        with store.engine.connect() as conn:
            known = set(conn.execute(select(model_versions.c.model_version)).scalars())
        for meta in metadata:
            if meta.model_version not in known:  # keep release dates others recorded
                store.register_model_version(meta.model_version, base_model=meta.base_model, details=asdict(meta))

    return setup
