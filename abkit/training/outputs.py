"""Writing outputs whole or not at all: a file or directory is written beside its destination under
a hidden ``.NAME.partial-PID`` name and renamed into place once complete, so an interrupted or
failed write never leaves something that looks finished (a JSON Lines corpus cut at a line
boundary still reads as a smaller corpus; a serving directory with new weights and an old
``abkit_model.json`` still loads)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class OutputError(ValueError):
    """An output path that cannot be written, naming it and the reason."""


def staging_path(path: Path) -> Path:
    """Where ``path`` is written before it is complete: a hidden sibling, emptied of any leftover."""
    staging = path.with_name(f".{path.name}.partial-{os.getpid()}")
    if staging.is_dir() and not staging.is_symlink():
        shutil.rmtree(staging)
    elif staging.exists() or staging.is_symlink():
        staging.unlink()
    return staging


def publish(staging: Path, path: Path) -> None:
    """Move the complete ``staging`` to ``path``; a directory replaces an existing directory whole."""
    if staging.is_dir() and path.is_dir() and not path.is_symlink():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        path.rename(old)
        staging.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, path)


def prepare_parent(path: Path, option: str = "--out") -> None:
    """Create ``path``'s parent directory and check it can be written, before any long work.

    Raises:
        OutputError: naming ``option`` and the path.
    """
    parent = path.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocker = next((p for p in (parent, *parent.parents) if p.exists()), parent)
        reason = f"{blocker} is not a directory" if not blocker.is_dir() else error.strerror
        raise OutputError(f"{option} {path}: cannot create {parent} ({reason})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: {parent} is not writable")


def prepare_dir(path: Path, option: str = "--out") -> None:
    """Create the directory ``path`` (and its parents) and check it can be written.

    Raises:
        OutputError: naming ``option`` and the path.
    """
    prepare_parent(path, option)
    try:
        path.mkdir(exist_ok=True)
    except OSError as error:
        raise OutputError(f"{option} {path}: cannot create the directory ({error.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: the directory is not writable")
