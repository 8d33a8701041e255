from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from abkit.cli.main import cli
from abkit.simulate.transcripts import generate_transcripts
from abkit.training.corpus import read_corpus, write_corpus
from abkit.training.serving_dir import read_metadata
from tests.training_helpers import TINY_MODEL_TOML

TINY_TOML = f"""
name = "cli-test"
{TINY_MODEL_TOML}[adapt]
context_length = 64
batch_size = 8
max_steps = 4
checkpoint_every = 2
heldout_fraction = 0.1
[finetune]
max_tokens = 64
batch_size = 16
[encoder]
hidden_size = 32
num_hidden_layers = 1
num_attention_heads = 2
epochs = 2
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus.jsonl"
    write_corpus(corpus, generate_transcripts(4, 60, n_templates=12))
    config = root / "tiny.toml"
    config.write_text(TINY_TOML)
    return root, corpus, config


def run(*args: str):
    return CliRunner().invoke(cli, ["train", *args])


@pytest.mark.slow
def test_adapt_finetune_evaluate_and_scaling_from_the_command_line(files):
    root, corpus, config = files
    adapted = run("adapt", "--data", str(corpus), "--size", str(config), "--out", str(root / "run"), "-q")
    assert adapted.exit_code == 0, adapted.output
    assert "packed fill rate" in adapted.output and "held-out LM loss" in adapted.output
    assert sorted(p.name for p in (root / "run").glob("checkpoint-*")) == [
        "checkpoint-000000",
        "checkpoint-000002",
        "checkpoint-000004",
    ]
    resumed = run(
        "adapt", "--data", str(corpus), "--size", str(config), "--out", str(root / "run2"), "-q",
        "--resume", str(root / "run" / "checkpoint-000002"),
    )  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    first = json.loads((root / "run" / "adapt_summary.json").read_text())["curve"]
    second = json.loads((root / "run2" / "adapt_summary.json").read_text())["curve"]
    assert [p["loss"] for p in second] == pytest.approx([p["loss"] for p in first], rel=1e-5)

    serving = root / "serving"
    tuned = run(
        "finetune", str(root / "run" / "checkpoint-000004"), "--data", str(corpus), "--size", str(config),
        "--out", str(serving), "--model-version", "v7", "-q",
    )  # fmt: skip
    assert tuned.exit_code == 0, tuned.output
    assert "majority baseline" in tuned.output and "encoder baseline (best epoch" in tuned.output
    metadata = read_metadata(serving)
    assert metadata.model_version == "v7" and metadata.extra["adaptation"]["step"] == 4

    evaluated = run("evaluate", str(serving), "--data", str(corpus))
    assert evaluated.exit_code == 0, evaluated.output
    assert "v7" in evaluated.output and "top-5" in evaluated.output

    scaled = run(
        "scaling",
        "--data",
        str(corpus),
        "--run",
        str(root / "run"),
        "--size",
        str(config),
        "--out",
        str(root / "scaling"),
        "-q",
    )
    assert scaled.exit_code == 0, scaled.output
    assert (root / "scaling" / "scaling.html").is_file()
    analysis = json.loads((root / "scaling" / "scaling.json").read_text())
    assert [p["step"] for p in analysis["points"]] == [0, 2, 4]
    # Two adapted checkpoints are too few for a line: the command says so instead of fitting.
    assert analysis["fits"] == [] and "at least 3 points, got 2" in analysis["notes"][0]
    assert "(start, not adapted)" in scaled.output and "note: no fit" in scaled.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty corpus"),
        (
            json.dumps({"case_id": "c1", "messages": [{"message_id": "m", "role": "bot", "text": "x"}]}) + "\n",
            ":1 (case 'c1'): messages[0].role: unknown role 'bot'",
        ),
    ],
)
def test_bad_corpora_exit_with_a_message_naming_the_record(tmp_path, content, message):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(content)
    result = run("adapt", "--data", str(corpus), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_size_exits_with_the_list_of_sizes(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, generate_transcripts(1, 4, n_templates=4))
    result = run("adapt", "--data", str(corpus), "--size", "pythia-7b", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and "pythia-410m" in result.output


@pytest.mark.parametrize("command", ["adapt", "finetune", "evaluate", "scaling"])
def test_every_training_command_sets_the_torch_threads(tmp_path, command):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, generate_transcripts(1, 4, n_templates=4))
    before = torch.get_num_threads()
    try:
        args = {
            "adapt": ["--size", "pythia-7b", "--out", "x"],
            "finetune": [str(tmp_path), "--size", "pythia-7b", "--out", "x"],
            "evaluate": [str(tmp_path)],
            "scaling": ["--run", str(tmp_path), "--size", "pythia-7b", "--out", "x"],
        }[command]
        result = run(command, "--data", str(corpus), "--threads", "3", *args)
        assert result.exit_code == 2  # an unknown size or a directory that is not a model: the threads are set first
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    refused = run(command, "--data", str(corpus), "--threads", "0", *args)
    assert refused.exit_code == 2 and "--threads" in refused.output


def test_corpus_writes_a_seeded_simulated_corpus_that_training_reads(tmp_path):

    first = run(
        "corpus", "--out", str(tmp_path / "a" / "corpus.jsonl"), "--cases", "30", "--templates", "8", "--seed", "3"
    )
    assert first.exit_code == 0, first.output
    assert "30 cases" in first.output and "labelled messages" in first.output
    cases = read_corpus(tmp_path / "a" / "corpus.jsonl")
    assert len(cases) == 30
    again = run("corpus", "--out", str(tmp_path / "b.jsonl"), "--cases", "30", "--templates", "8", "--seed", "3")
    assert again.exit_code == 0
    assert (tmp_path / "b.jsonl").read_text() == (tmp_path / "a" / "corpus.jsonl").read_text()
    rich = run("corpus", "--out", str(tmp_path / "r.jsonl"), "--cases", "30", "--templates", "8", "--language", "rich")
    assert rich.exit_code == 0 and (tmp_path / "r.jsonl").read_text() != (tmp_path / "b.jsonl").read_text()
    refused = run("corpus", "--out", str(tmp_path / "c.jsonl"), "--templates", "1")
    assert refused.exit_code == 2 and "--templates" in refused.output


@pytest.mark.slow
def test_scaling_demo_adapts_each_size_fine_tunes_every_checkpoint_and_fits_per_size(tmp_path):
    sizes = []
    for name, hidden in [("xs", 16), ("s", 32)]:
        path = tmp_path / f"{name}.toml"
        path.write_text(
            TINY_TOML.replace('name = "cli-test"', f'name = "demo-{name}"')
            .replace("hidden_size = 32\nnum_hidden_layers = 1", f"hidden_size = {hidden}\nnum_hidden_layers = 1", 1)
            .replace("max_steps = 4\ncheckpoint_every = 2", "max_steps = 6\ncheckpoint_every = 2")
        )
        sizes += ["--size", str(path)]
    result = run(
        "scaling-demo",
        "--out",
        str(tmp_path / "demo"),
        *sizes,
        "--cases",
        "40",
        "--templates",
        "8",
        "--adapt-cases",
        "20",
        "-q",
    )
    assert result.exit_code == 0, result.output
    analysis = json.loads((tmp_path / "demo" / "scaling.json").read_text())
    assert [p["run"] for p in analysis["points"]] == ["demo-xs"] * 4 + ["demo-s"] * 4
    # Two classifiers per checkpoint by default (DEMO_FINETUNES), averaged, with their spread.
    assert all(p["finetunes"] == 2 and p["cls_loss_sd"] is not None for p in analysis["points"])
    assert {(f["group"], f["x_name"], f["n"]) for f in analysis["fits"] if f["x_name"] == "lm_loss"} == {
        ("demo-xs", "lm_loss", 3), ("demo-s", "lm_loss", 3), ("pooled", "lm_loss", 6)
    }  # fmt: skip
    assert [e["run"] for e in analysis["adaptation_effects"]] == ["demo-xs", "demo-s"]
    assert "demo-xs: adaptation" in result.output and "demo-s: classification loss on LM loss over 3" in result.output
    assert (tmp_path / "demo" / "scaling.html").is_file() and (tmp_path / "demo" / "corpus.jsonl").is_file()
    # The labelled corpus (fine-tuned and evaluated on) and the adaptation-only cases, no case in both.
    labelled = {case.case_id for case in read_corpus(tmp_path / "demo" / "corpus.jsonl")}
    adapt_only = {case.case_id for case in read_corpus(tmp_path / "demo" / "adapt_corpus.jsonl")}
    assert (len(labelled), len(adapt_only)) == (40, 20) and not labelled & adapt_only


@pytest.mark.parametrize(
    ("terminal", "quiet", "bars"), [(True, False, True), (True, True, False), (False, False, False)]
)
def test_transformers_bars_only_on_a_terminal_and_not_with_quiet(monkeypatch, terminal, quiet, bars):
    import io

    from transformers.utils import logging as hf_logging

    from abkit.cli.train_options import transformers_logging

    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return terminal

    before = hf_logging.is_progress_bar_enabled()
    monkeypatch.setattr("sys.stderr", Stream())
    hf_logging.enable_progress_bar()
    try:
        transformers_logging(quiet)
        assert hf_logging.is_progress_bar_enabled() is bars
    finally:
        (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()
