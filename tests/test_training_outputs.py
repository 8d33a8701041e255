"""Outputs written whole or not at all: serving directories, corpora, and --out checks before training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from abkit.cli.main import cli
from abkit.training.corpus import read_corpus, write_corpus
from abkit.training.outputs import OutputError, prepare_dir
from abkit.training.serving_dir import ServingMetadata, read_metadata, save_serving_dir
from tests.training_helpers import record


class _Saves:
    """Stands in for a model or tokenizer: ``save_pretrained`` writes one file, or fails after writing it."""

    def __init__(self, name: str, content: str, *, fail: bool = False):
        self.name, self.content, self.fail = name, content, fail

    def save_pretrained(self, directory: Path) -> None:
        Path(directory, self.name).write_text(self.content)
        if self.fail:
            raise OSError("No space left on device")


def test_a_failed_save_leaves_the_old_serving_directory_whole_and_a_good_one_replaces_it(tmp_path):
    out = tmp_path / "serving"
    tokenizer = _Saves("tokenizer.json", "{}")
    save_serving_dir(out, _Saves("model.safetensors", "old"), tokenizer, ServingMetadata("v1", "base"))
    (out / "stale.bin").write_text("from an older layout")
    with pytest.raises(OSError, match="No space"):
        save_serving_dir(out, _Saves("model.safetensors", "new", fail=True), tokenizer, ServingMetadata("v2", "base"))
    assert (out / "model.safetensors").read_text() == "old" and read_metadata(out).model_version == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["serving"]  # no staging directory left behind

    save_serving_dir(out, _Saves("model.safetensors", "new"), tokenizer, ServingMetadata("v2", "base"))
    assert (out / "model.safetensors").read_text() == "new" and read_metadata(out).model_version == "v2"
    assert not (out / "stale.bin").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["serving"]


def test_a_directory_of_other_files_is_never_replaced_by_a_serving_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="a directory of other files"):
        save_serving_dir(tmp_path, _Saves("model.safetensors", "x"), _Saves("t", "{}"), ServingMetadata("v1", "b"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_interrupted_corpus_write_leaves_no_file_that_reads_as_a_smaller_corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"

    def records():
        yield record("c1", ("customer", "hi", None))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_corpus(path, records())
    assert list(tmp_path.iterdir()) == []
    write_corpus(path, [record("c1", ("customer", "hi", None))])
    assert [case.case_id for case in read_corpus(path)] == ["c1"]


def test_an_output_below_a_file_names_the_file(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=r"--out .*file/run: cannot create .*file is not a directory"):
        prepare_dir(tmp_path / "file" / "run")
    with pytest.raises(OutputError, match="cannot create the directory"):
        prepare_dir(tmp_path / "file")


def _train(*args: str):
    return CliRunner().invoke(cli, ["train", *args])


def test_every_train_command_checks_its_out_before_any_work(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, [record(f"c{i}", ("customer", "hi", None), ("advocate", "ok", "T1")) for i in range(4)])
    blocked = tmp_path / "file"
    blocked.write_text("")
    for args in [
        ("corpus", "--out", str(blocked / "c.jsonl"), "--cases", "3"),
        ("adapt", "--data", str(corpus), "--out", str(blocked / "run")),
        ("finetune", str(tmp_path), "--data", str(corpus), "--out", str(blocked / "serving")),
        ("finetune", str(tmp_path), "--data", str(corpus), "--out", str(tmp_path)),
        ("scaling", "--data", str(corpus), "--run", str(tmp_path), "--out", str(blocked / "scaling")),
        ("demo-model", "--out", str(blocked / "serving"), "--cases", "4"),
    ]:
        result = _train(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith(f"error: --out {args[args.index('--out') + 1]}: "), result.output
        assert "Traceback" not in result.output


def test_adapt_refuses_an_out_holding_another_run_unless_resuming(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, [record(f"c{i}", ("customer", "hi", None)) for i in range(4)])
    run = tmp_path / "run"
    (run / "checkpoint-000010").mkdir(parents=True)
    (run / "checkpoint-000010" / "checkpoint.json").write_text(json.dumps({"step": 10}))
    result = _train("adapt", "--data", str(corpus), "--out", str(run))
    assert result.exit_code == 2
    assert "already holds an adaptation run (checkpoint-000010)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--cases", "0"), "'--cases': 0 is not in the range x>=4"), (("--templates", "1"), "'--templates': 1")],
)
def test_demo_model_counts_are_checked(tmp_path, args, message):
    result = _train("demo-model", "--out", str(tmp_path / "m"), *args)
    assert result.exit_code == 2 and message in result.output
