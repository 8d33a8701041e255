from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState
from click.testing import CliRunner

import abkit.training.finetune as finetune_module
from abkit.cli.main import cli
from abkit.simulate.transcripts import generate_transcripts
from abkit.training.accel import (
    ShardingError,
    check_batch_size,
    cpu_state_dict,
    make_accelerator,
    prepare,
    shard_rows,
)
from abkit.training.corpus import write_corpus
from abkit.training.finetune import LoopSettings, evaluate_classifier, train_classifier
from abkit.training.optim import Runtime
from tests.test_training_finetune import PAD, toy_classifier, toy_data
from tests.training_helpers import TINY_MODEL_TOML

VENV_BIN = Path(sys.executable).parent


def test_weighted_shards_add_up_to_the_loss_of_the_whole_micro_batch():
    # Five rows with uneven token counts over two and three processes: the mean over processes of
    # weight * (mean loss of the process's tokens) is the mean loss over all tokens of the micro-batch.
    units = torch.tensor([7.0, 3.0, 9.0, 1.0, 5.0])
    row_loss_sums = torch.tensor([14.0, 3.3, 20.7, 0.4, 6.0])
    whole = float(row_loss_sums.sum() / units.sum())
    for world in (1, 2, 3):
        shards = [shard_rows(units, rank=r, world_size=world) for r in range(world)]
        assert sorted(torch.cat([s.rows for s in shards]).tolist()) == list(range(5))
        combined = sum(s.weight * float(row_loss_sums[s.rows].sum() / units[s.rows].sum()) for s in shards) / world
        assert combined == pytest.approx(whole)
        assert sum(s.share for s in shards) == pytest.approx(1.0)


def test_a_short_micro_batch_gives_stand_in_rows_of_weight_zero_never_an_empty_shard():
    # The last micro-batch of an epoch can hold fewer rows than there are processes.
    shards = [shard_rows(torch.tensor([4.0, 6.0]), rank=r, world_size=4) for r in range(4)]
    assert [s.rows.tolist() for s in shards] == [[0], [1], [0], [0]]
    assert [s.weight for s in shards] == pytest.approx([1.6, 2.4, 0.0, 0.0])
    with pytest.raises(ShardingError, match="without any loss term"):
        shard_rows(torch.tensor([0.0, 0.0]), rank=0, world_size=2)


def test_a_batch_smaller_than_the_world_is_refused_with_what_to_do():
    check_batch_size(4, 4, where="[adapt]")
    with pytest.raises(
        ShardingError, match=r"\[adapt\]: batch_size 2 is smaller than the 4 processes.*raise batch_size"
    ):
        check_batch_size(2, 4, where="[adapt]")


def test_keep_best_copies_the_weights_into_cpu_memory(tmp_path):
    model = toy_classifier(tmp_path)
    accelerator = make_accelerator(Runtime.detect("cpu"))
    kept = cpu_state_dict(accelerator, model)
    parameters = dict(model.state_dict())
    assert kept.keys() == parameters.keys()
    for key, value in kept.items():
        assert value.device.type == "cpu" and value.data_ptr() != parameters[key].data_ptr()
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    key = next(iter(parameters))
    assert not torch.equal(kept[key], model.state_dict()[key])  # a copy, not a view of the live weights


def test_cpu_training_has_no_gradient_scaler():
    accelerator = make_accelerator(Runtime.detect("cpu"))
    assert accelerator.scaler is None and accelerator.mixed_precision == "no"


@pytest.fixture
def fresh_accelerator_state():
    AcceleratorState._reset_state(True)
    yield
    AcceleratorState._reset_state(True)


def test_the_fp16_path_scales_the_loss_and_skips_overflowing_steps(tmp_path, monkeypatch, fresh_accelerator_state):
    # accelerate creates its GradScaler only off the CPU (it has none for fp16 on "cpu"), so this test
    # gives the accelerator torch's CPU GradScaler and runs the training loop under fp16 autocast on
    # the CPU: the path a GPU without bf16 takes. The initial scale (2^24) overflows fp16 gradients, so
    # the first steps must be detected and skipped, the scale backed off, and the weights stay finite.
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**24, growth_interval=10_000)
    scales: list[float] = []
    update = scaler.update

    def recording_update(*args, **kwargs):
        update(*args, **kwargs)
        scales.append(scaler.get_scale())

    scaler.update = recording_update  # type: ignore[method-assign]

    def fp16_accelerator(runtime, **kwargs):
        accelerator = make_accelerator(Runtime(torch.device("cpu"), "fp16", False), **kwargs)
        accelerator.scaler, accelerator.native_amp = scaler, True
        return accelerator

    monkeypatch.setattr(finetune_module, "make_accelerator", fp16_accelerator)
    model = toy_classifier(tmp_path)
    train, test = toy_data(160, 0), toy_data(100, 1)
    before = evaluate_classifier(model, test, PAD, batch_size=64)
    result = train_classifier(model, train, PAD, LoopSettings(3e-3, 16, 3, 0.01, log_every=1), progress=False)
    assert len(scales) == 30  # the scaler stepped the optimizer on every one of the 30 steps
    skipped = sum(1 for a, b in zip([2.0**24, *scales], scales, strict=False) if b < a)
    assert 1 <= skipped < 30 and scales[-1] < 2.0**24  # overflow detected, scale halved, training went on
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert evaluate_classifier(model, test, PAD, batch_size=64).loss < before.loss
    assert all(torch.isfinite(torch.tensor(result.curve)))


TWO_PROCESS_TOML = f"""
name = "two-process-test"
{TINY_MODEL_TOML}[adapt]
context_length = 64
batch_size = 5
gradient_accumulation_steps = 2
max_steps = 6
checkpoint_every = 3
log_every = 1
heldout_fraction = 0.1
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_gloo_processes_train_like_one_with_the_same_global_batch(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, generate_transcripts(4, 60, n_templates=12))
    config = tmp_path / "tiny.toml"
    config.write_text(TWO_PROCESS_TOML)
    args = ["train", "adapt", "--data", str(corpus), "--size", str(config), "-q", "--threads", "1"]
    single = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "one")])
    assert single.exit_code == 0, single.output
    # The same command in two CPU processes (gloo), started by torchrun as accelerate launch starts
    # several GPUs (accelerate launch --cpu runs one process). Micro-batches of 5 split 3 + 2.
    _two_processes(*args, "--out", str(tmp_path / "two"))
    one = json.loads((tmp_path / "one" / "adapt_summary.json").read_text())
    two = json.loads((tmp_path / "two" / "adapt_summary.json").read_text())
    assert (one["processes"], two["processes"]) == (1, 2)
    assert two["tokens_seen"] == one["tokens_seen"]
    assert [p["step"] for p in two["curve"]] == list(range(1, 7))
    # Same data, same schedule, gradients all-reduced to the single-process gradient: the same losses
    # up to float32 summation order.
    assert [p["loss"] for p in two["curve"]] == pytest.approx([p["loss"] for p in one["curve"]], rel=1e-4)
    assert [p["learning_rate"] for p in two["curve"]] == pytest.approx([p["learning_rate"] for p in one["curve"]])
    assert [c["heldout_loss"] for c in two["checkpoints"]] == pytest.approx(
        [c["heldout_loss"] for c in one["checkpoints"]], rel=1e-4
    )
    # Resumed in two processes from the step-3 checkpoint (accelerate's load_state on each): the same curve.
    _two_processes(*args, "--out", str(tmp_path / "resumed"), "--resume", str(tmp_path / "two" / "checkpoint-000003"))
    resumed = json.loads((tmp_path / "resumed" / "adapt_summary.json").read_text())
    assert [p["loss"] for p in resumed["curve"]] == pytest.approx([p["loss"] for p in two["curve"]], rel=1e-5)
    assert resumed["checkpoints"][-1]["heldout_loss"] == pytest.approx(two["checkpoints"][-1]["heldout_loss"], rel=1e-5)


def _two_processes(*args: str) -> None:
    launched = subprocess.run(
        [
            str(VENV_BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(_free_port()),
            "-m", "abkit.cli.main", *args,
        ],
        capture_output=True, text=True, timeout=300,
        env={
            **os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1",
        },
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-3000:]


class _FakeDeepSpeedPlugin:
    def __init__(self) -> None:
        self.deepspeed_config: dict[str, object] = {"train_micro_batch_size_per_gpu": "auto"}

    def is_auto(self, key: str) -> bool:
        return self.deepspeed_config.get(key) == "auto"


class _FakeDeepSpeedAccelerator:
    """What prepare() reads of an accelerator under DeepSpeed (deepspeed is not installed here)."""

    def __init__(self, ours: int, deepspeeds: int) -> None:
        self.state = type("State", (), {"deepspeed_plugin": _FakeDeepSpeedPlugin()})()
        self.num_processes, self.gradient_accumulation_steps, self._deepspeeds = 4, ours, deepspeeds

    def prepare(self, *objects):
        self.gradient_accumulation_steps = self._deepspeeds  # accelerate adopts DeepSpeed's value
        return objects


def test_deepspeed_gets_its_micro_batch_from_the_size_config_and_must_accumulate_as_it_does():
    accelerator = _FakeDeepSpeedAccelerator(ours=16, deepspeeds=16)
    assert prepare(accelerator, "model", "optimizer", "scheduler", batch_size=8) == ("model", "optimizer", "scheduler")
    assert accelerator.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] == 2  # 8 rows / 4 GPUs
    with pytest.raises(
        ValueError, match="accumulates 16 micro-batches but the size config 1: set gradient_accumulation_steps"
    ):
        prepare(_FakeDeepSpeedAccelerator(ours=1, deepspeeds=16), "m", "o", "s", batch_size=8)
