"""What a command does when an optional extra (`pip install 'abkit[serve]'`...) is missing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

# extra -> the top-level modules it installs that abkit imports (pyproject.toml's optional-dependencies).
# Not tenacity: the serve extra installs it, but plotly 5 (a core dependency) requires it too, so a
# core install may have it; serve's other modules name the extra whenever it is missing.
EXTRA_MODULES: dict[str, frozenset[str]] = {
    "serve": frozenset({"torch", "transformers", "tokenizers", "fastapi", "uvicorn", "httpx", "prometheus_client"}),
    "train": frozenset({"torch", "transformers", "tokenizers", "accelerate"}),
    "dashboard": frozenset({"dash", "flask", "waitress"}),
    "postgres": frozenset({"psycopg"}),
    "duckdb": frozenset({"duckdb", "duckdb_engine", "pyarrow"}),
    "spark": frozenset({"pyspark"}),
    "warehouse": frozenset({"trino"}),
}


def missing_extra(command: str, extra: str) -> NoReturn:
    """Say in one line which extra ``command`` needs, and exit with status 2."""
    click.echo(f"abkit {command}: needs the {extra} extra: pip install 'abkit[{extra}]'", err=True)
    sys.exit(2)


def extra_of(error: ModuleNotFoundError) -> str | None:
    """The first extra that installs the missing module, or None when no extra does."""
    top = (error.name or "").partition(".")[0]
    return next((extra for extra, modules in EXTRA_MODULES.items() if top in modules), None)


@contextmanager
def requires_extra(extra: str, command: str) -> Iterator[None]:
    """Turn a missing module of ``extra`` inside the block into one line and exit status 2.

    Wrap a command's lazy imports in it (``with requires_extra("serve", "serve"): import torch``),
    or decorate the command's function with it. Any other ImportError (a broken install, a
    bug) propagates unchanged.
    """
    try:
        yield
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] not in EXTRA_MODULES[extra]:
            raise
        missing_extra(command, extra)
