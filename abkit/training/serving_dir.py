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
    data = _json_object(path)
    known = set(ServingMetadata.__dataclass_fields__)
    missing = {"model_version", "base_model"} - set(data)
    if missing:
        raise ValueError(f"{path}: missing fields {sorted(missing)}")
    if not isinstance(data["model_version"], str) or not data["model_version"].strip():
        raise ValueError(f"{path}: model_version: must be a non-empty string, got {data['model_version']!r}")
    max_tokens = data.get("max_tokens", 512)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"{path}: max_tokens: must be a whole number of tokens, at least 1, got {max_tokens!r}")
    return ServingMetadata(**{k: v for k, v in data.items() if k in known})


def _json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a JSON object")
    return data


# The classifier head's weight by model type: its rows are the labels (other types are not checked).
HEAD_WEIGHTS = {"gpt_neox": "score.weight", "bert": "classifier.weight"}
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "tokenizer.model")


def check_serving_dir(directory: str | Path) -> ServingMetadata:
    """Check a serving directory without loading its weights (only the safetensors headers are read).

    ``abkit_model.json``, ``config.json`` with a label map (``id2label``, indices 0..n-1), a
    tokenizer, weights that are whole (a truncated or corrupt safetensors file is caught here) and
    a classifier head with one output per label.

    Raises:
        FileNotFoundError / ValueError: naming the file and the problem.
    """
    directory = Path(directory)
    metadata = read_metadata(directory)
    shapes = check_model_dir(directory)  # config.json, a tokenizer, whole weights
    config_path = directory / "config.json"
    config = _json_object(config_path)
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise ValueError(f"{config_path}: id2label: missing or empty (the label map: class index -> template id)")
    if sorted(str(key) for key in id2label) != sorted(str(index) for index in range(len(id2label))):
        raise ValueError(f"{config_path}: id2label: class indices must be 0 to {len(id2label) - 1}")
    head = HEAD_WEIGHTS.get(str(config.get("model_type")))
    if head is not None and shapes is not None:
        if head not in shapes:
            raise ValueError(f"{directory}: the weights have no classifier head ({head}): not a fine-tuned classifier")
        if shapes[head][0] != len(id2label):
            raise ValueError(
                f"{directory}: the classifier head {head} has {shapes[head][0]} outputs but config.json's "
                f"id2label has {len(id2label)} labels"
            )
    return metadata


def check_model_dir(directory: str | Path) -> dict[str, list[int]] | None:
    """Check a local Hugging Face model directory (a base model, a checkpoint, a serving directory)
    without loading it: ``config.json``, a tokenizer, and whole weights.

    Returns:
        The tensor shapes from the safetensors headers; None for PyTorch ``.bin`` weights (not checked).

    Raises:
        ValueError: naming the file and the problem.
    """
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise ValueError(f"{directory}: not a model directory (no config.json)")
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise ValueError(f"{directory}: no tokenizer (none of {', '.join(TOKENIZER_FILES)})")
    return _weight_shapes(directory)


def _weight_shapes(directory: Path) -> dict[str, list[int]] | None:
    from safetensors import safe_open

    index = directory / "model.safetensors.index.json"
    if (directory / "model.safetensors").is_file():
        files = [directory / "model.safetensors"]
    elif index.is_file():
        weight_map = _json_object(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ValueError(f"{index}: weight_map: missing or empty")
        files = [directory / str(name) for name in sorted(set(weight_map.values()))]
    elif any((directory / name).is_file() for name in ("pytorch_model.bin", "pytorch_model.bin.index.json")):
        return None
    else:
        raise ValueError(f"{directory}: no weights (model.safetensors)")
    shapes: dict[str, list[int]] = {}
    for file in files:
        if not file.is_file():
            raise ValueError(f"{file}: missing (listed in {index.name})")
        try:
            with safe_open(str(file), framework="pt") as weights:
                shapes.update({name: list(weights.get_slice(name).get_shape()) for name in weights.keys()})  # noqa: SIM118
        except Exception as error:  # safetensors raises its own SafetensorError (truncated, not safetensors)
            raise ValueError(f"{file}: unreadable weights, truncated or corrupt ({error})") from None
    return shapes
