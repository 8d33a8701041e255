"""The serving directory: what training hands to serving.

A Hugging Face ``save_pretrained`` directory (config with ``id2label`` mapping class index to
template id, weights, tokenizer) plus ``abkit_model.json`` describing the model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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


def save_serving_dir(directory: str | Path, model: Any, tokenizer: Any, metadata: ServingMetadata) -> Path:
    """Write a serving directory: ``save_pretrained`` weights and tokenizer, then ``abkit_model.json``.

    The metadata goes last, so a directory that has it is complete.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_metadata(out, metadata)
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
