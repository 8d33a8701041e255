"""A broken serving directory is refused by `abkit train evaluate`, `abkit serve` and `abkit
tune-batching` at start-up, with one line naming the file and the problem."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from abkit.cli.main import cli
from abkit.simulate.transcripts import generate_transcripts
from abkit.training.corpus import write_corpus
from abkit.training.serving_dir import check_serving_dir
from abkit.training.tiny import build_random_classifier

LABELS = [f"T{i:04d}" for i in range(1, 13)]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("serving-dir")
    records = generate_transcripts(seed=9, n_cases=12, n_templates=12)
    write_corpus(root / "corpus.jsonl", records)
    texts = [m["text"] for case in records for m in case["messages"]]
    directory = build_random_classifier(root / "model", texts, LABELS, vocab_size=300, hidden_size=32)
    return directory, root / "corpus.jsonl"


def _edit_json(name: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        data = json.loads((directory / name).read_text())
        change(data)
        (directory / name).write_text(json.dumps(data))

    return edit


def _truncate(directory: Path) -> None:
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _fewer_labels(config: dict) -> None:
    config["id2label"] = {str(i): label for i, label in enumerate(LABELS[:5])}
    config["label2id"] = {label: i for i, label in enumerate(LABELS[:5])}


BROKEN = [
    (_truncate, "model.safetensors: unreadable weights, truncated or corrupt"),
    (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 100), "model.safetensors: unreadable weights"),
    (lambda d: (d / "model.safetensors").unlink(), "no weights (model.safetensors)"),
    (lambda d: (d / "tokenizer.json").unlink(), "no tokenizer"),
    (_edit_json("config.json", lambda c: c.pop("id2label")), "config.json: id2label: missing or empty"),
    (_edit_json("config.json", _fewer_labels), "score.weight has 12 outputs but config.json's id2label has 5"),
    (lambda d: (d / "config.json").write_text("{"), "config.json: not valid JSON"),
    (lambda d: (d / "abkit_model.json").write_text("[1]"), "abkit_model.json: must be a JSON object"),
    (_edit_json("abkit_model.json", lambda m: m.update(max_tokens="512")), "abkit_model.json: max_tokens: must be"),
    (_edit_json("abkit_model.json", lambda m: m.update(model_version=3)), "model_version: must be a non-empty string"),
]


@pytest.mark.parametrize(("breaks", "message"), BROKEN)
def test_a_broken_serving_directory_is_refused_naming_the_problem(model, tmp_path, breaks, message):
    directory, corpus = model
    broken = shutil.copytree(directory, tmp_path / "broken")
    breaks(broken)
    with pytest.raises(ValueError, match="broken"):
        check_serving_dir(broken)
    runner = CliRunner()
    for args in (
        ["train", "evaluate", str(broken), "--data", str(corpus)],
        ["serve", "--model", str(broken), "--db", str(tmp_path / "events.sqlite")],
        ["tune-batching", "--model", str(broken)],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, (args, result.output)
    assert not (tmp_path / "events.sqlite").exists()  # refused before the event store is opened


def test_a_whole_serving_directory_passes(model):
    directory, _ = model
    assert check_serving_dir(directory).model_version == "v1"


def test_a_broken_model_to_start_from_is_refused_before_training(model, tmp_path):
    directory, corpus = model
    truncated = shutil.copytree(directory, tmp_path / "truncated")
    _truncate(truncated)
    no_tokenizer = shutil.copytree(directory, tmp_path / "no-tokenizer")
    (no_tokenizer / "tokenizer.json").unlink()
    (tmp_path / "empty").mkdir()
    runner = CliRunner()
    for args, message in [
        (["finetune", str(truncated)], "truncated/model.safetensors: unreadable weights"),
        (["finetune", str(no_tokenizer)], "no-tokenizer: no tokenizer"),
        (["adapt", "--base-model", str(truncated)], "truncated/model.safetensors: unreadable weights"),
        (["adapt", "--resume", str(tmp_path / "empty")], "empty: not a model directory (no config.json)"),
    ]:
        out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
        result = runner.invoke(cli, ["train", *args, "--data", str(corpus), "--out", str(out), "-q"])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, (args, result.output)
