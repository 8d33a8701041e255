"""The serving directory: what training hands to serving.

A Hugging Face ``save_pretrained`` directory (config with ``id2label`` mapping class index to
template id, weights, tokenizer) plus ``abkit_model.json`` describing the model.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from abkit.training.outputs import OutputError, prepare_parent, publish, staging_path

METADATA_FILE = "abkit_model.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ServingMetadata:
    """What ``abkit_model.json`` holds.

    Attributes:
        model_version: the name arms and events use (``v1``, ``v2``...).
        base_model: the checkpoint training started from (a path or a name).
        architecture: ``gpt_neox`` (last non-padding token pooling) or ``bert``.
        max_tokens: input window in tokens (512).
        training_tokens: tokens seen in domain adaptation plus fine-tuning.
        training_flops: estimated as 6 * parameters * training tokens.
        eval_metrics: held-out loss and top-1/3/5 accuracy, majority baseline.
    """

    model_version: str
    base_model: str
    architecture: str = "gpt_neox"
    max_tokens: int = 512
    training_tokens: int = 0
    training_flops: float = 0.0
    parameters: int = 0
    eval_metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION


def write_metadata(directory: str | Path, metadata: ServingMetadata) -> None:
    Path(directory, METADATA_FILE).write_text(json.dumps(asdict(metadata), indent=2, sort_keys=True))


def check_serving_out(directory: str | Path, option: str = "--out") -> None:
    """Check, before training, that a serving directory can be written at ``directory``: a new
    path, an empty directory or a serving directory to replace, in a writable parent.

    Raises:
        OutputError: anything else, e.g. a directory of other files, which replacing would delete.
    """
    out = Path(directory)
    prepare_parent(out, option)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise OutputError(f"{option} {out}: exists and is not a directory")
        if any(out.iterdir()) and not (out / METADATA_FILE).is_file():
            raise OutputError(
                f"{option} {out}: a directory of other files, not a serving directory (no {METADATA_FILE}); "
                "choose a new or empty directory"
            )


def save_serving_dir(directory: str | Path, model: Any, tokenizer: Any, metadata: ServingMetadata) -> Path:
    """Write a serving directory: ``save_pretrained`` weights and tokenizer, then ``abkit_model.json``.

    Everything is written to a hidden sibling first and renamed into place (a serving directory
    already there is replaced whole), so a failed or interrupted write leaves the old directory
    or nothing, never new weights beside old files.

    Raises:
        OutputError: ``directory`` is a file or a directory of other files (see :func:`check_serving_out`).
    """
    out = Path(directory)
    check_serving_out(out, "serving directory")
    staging = staging_path(out)
    try:
        staging.mkdir()
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_metadata(staging, metadata)
        publish(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out


def read_metadata(directory: str | Path) -> ServingMetadata:
    """Read ``abkit_model.json``.

    Raises:
        FileNotFoundError / ValueError: naming the directory and what is missing.
    """
    path = Path(directory, METADATA_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: not an abkit serving directory (no {METADATA_FILE})")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    known = set(ServingMetadata.__dataclass_fields__)
    missing = {"model_version", "base_model"} - set(data)
    if missing:
        raise ValueError(f"{path}: missing fields {sorted(missing)}")
    return ServingMetadata(**{k: v for k, v in data.items() if k in known})
