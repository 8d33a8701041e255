"""`abkit tune-batching` on a tiny random GPT-NeoX built here (nothing downloaded)."""

import json

import pytest
import torch
from click.testing import CliRunner

from abkit.cli.main import cli
from abkit.simulate.transcripts import generate_transcripts
from abkit.training.tiny import build_random_classifier
from abkit.tuning.batching import BatchTiming, advise


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    corpus = generate_transcripts(seed=5, n_cases=20, n_templates=12)
    texts = [m["text"] for case in corpus for m in case["messages"]]
    templates = [f"T{i:04d}" for i in range(12)]
    return build_random_classifier(tmp_path_factory.mktemp("model"), texts, templates, model_version="v3")


def tune(*args):
    return CliRunner().invoke(cli, ["tune-batching", *map(str, args)])


def test_times_each_shape_and_prints_the_advice_its_json_holds(model_dir, tmp_path):
    out = tmp_path / "tuning.json"
    result = tune(
        "--model", model_dir, "--device", "cpu", "--lengths", "32,16", "--max-batch-size", 4,
        "--seconds", 0, "--rounds", 2, "--out", out,
        "--max-batch-ms", 600_000,  # no shape is cut for slowness, however busy the machine
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["model_version"] == "v3" and record["device"] == "cpu"
    shapes = [(t["length"], t["batch_size"]) for t in record["timings"]]
    assert shapes == [(16, 1), (16, 2), (16, 4), (32, 1), (32, 2), (32, 4)]  # lengths sorted, sizes doubled
    assert all(len(t["round_rates"]) == 2 and t["requests_per_second"] > 0 for t in record["timings"])
    assert record["skipped"] == []
    # The advice printed and saved is advise() over the saved timings.
    expected = advise([BatchTiming(t["length"], t["batch_size"], tuple(t["round_rates"])) for t in record["timings"]])
    assert record["advice"]["max_batch_size"] == expected.max_batch_size
    assert record["advice"]["max_batch_tokens"] == expected.max_batch_tokens
    assert f"advice: abkit serve --model {model_dir} {expected.flags}" in result.output
    assert "16 tokens: batches of" in result.output and "32 tokens: batches of" in result.output
    assert "on a CPU the service's web layer shares the cores" in result.output


def test_a_slow_batch_limit_is_reported_and_not_advised(model_dir, tmp_path):
    # No pass of a real model takes under a microsecond: every length stops at its first batch.
    result = tune(
        "--model", model_dir, "--device", "cpu", "--lengths", 16, "--seconds", 0, "--rounds", 1,
        "--max-batch-ms", 0.001,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "16 tokens x   1: one pass took" in result.output
    assert "no batch fitted the device or the --max-batch-ms limit" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lengths", "0"], "0 must be between 1 and the model's window of 512 tokens"),
        (["--lengths", "64,9999"], "9999 must be between 1 and the model's window of 512 tokens"),
        (["--lengths", "64,abc"], "'abc' is not a whole number of tokens"),
        (["--tolerance", "1"], "--tolerance"),
        (["--max-batch-size", "0"], "--max-batch-size"),
        (["--rounds", "0"], "--rounds"),
        pytest.param(
            ["--device", "cuda:7"],
            "CUDA is not available",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here"),
        ),
        (["--dtype", "float8"], "dtype 'float8'"),
    ],
)
def test_bad_options_name_the_problem(model_dir, args, message):
    result = tune("--model", model_dir, "--device", "cpu", "--seconds", 0, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_missing_model_directory_is_a_usage_error(tmp_path):
    result = tune("--model", tmp_path / "nowhere")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_an_unwritable_out_file_names_it_after_the_advice_is_printed(model_dir, tmp_path):
    out = tmp_path / "no-such-dir" / "tuning.json"
    result = tune(
        "--model", model_dir, "--device", "cpu", "--lengths", 16, "--max-batch-size", 2, "--seconds", 0,
        "--rounds", 1, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "advice: abkit serve" in result.output
    assert f"--out {out}: No such file or directory" in result.output
