"""ProcessScorer: the forward passes in a spawned child give what HFScorer gives in this process."""

import os
import shutil
import signal

import numpy as np
import pytest

from abkit.serving.model_process import ModelProcessError, ProcessScorer
from abkit.serving.scorer import HFScorer, hf_model_slot
from abkit.simulate.transcripts import generate_transcripts
from abkit.text import Message
from abkit.training.tiny import build_random_classifier

TEMPLATES = [f"T{i:04d}" for i in range(40)]
pytestmark = pytest.mark.slow  # each child imports torch and transformers afresh (a few seconds)


@pytest.fixture(scope="module")
def corpus():
    return generate_transcripts(seed=5, n_cases=30, n_templates=len(TEMPLATES))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, corpus):
    texts = [m["text"] for case in corpus for m in case["messages"]]
    return build_random_classifier(tmp_path_factory.mktemp("model"), texts, TEMPLATES, model_version="v9", seed=2)


@pytest.fixture(scope="module")
def child(model_dir):
    scorer = ProcessScorer(model_dir, device="cpu", cpu_threads=1)
    yield scorer
    scorer.close()


def test_same_inputs_and_top5_as_the_in_process_scorer(child, model_dir, corpus):
    local = HFScorer(model_dir, device="cpu")
    assert (child.model_version, child.max_tokens, child.parameters, child.device) == (
        "v9",
        512,
        local.parameters,
        "cpu",
    )
    conversations = [
        [Message(m["role"], m["text"]) for m in case["messages"][: 2 + i % 4]] for i, case in enumerate(corpus)
    ]
    sequences = [local.encode(messages) for messages in conversations]
    assert [child.encode(messages) for messages in conversations] == sequences
    assert child.token_cache.misses > 0  # the service's side tokenizes, through its cache
    for remote, here in zip(child.score(sequences), local.score(sequences), strict=True):
        assert remote.template_ids == here.template_ids
        np.testing.assert_allclose(remote.scores, here.scores, rtol=1e-5)


def test_an_error_in_the_forward_pass_is_raised_here_and_the_child_keeps_serving(child):
    with pytest.raises(RuntimeError, match="ValueError: token batch: sequence 1 is empty"):
        child.score([[5, 6], []])
    assert len(child.score([[5, 6, 7]])) == 1 and child.alive


def test_a_load_failure_in_the_child_is_raised_with_its_reason(model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    for weights in broken.glob("*.safetensors"):  # the tokenizer loads here; the weights only in the child
        weights.unlink()
    with pytest.raises(ModelProcessError, match="failed to load: OSError: .*no file named"):
        ProcessScorer(broken, device="cpu")


def test_a_killed_child_fails_its_batches_and_reports_it(model_dir):
    scorer = hf_model_slot(model_dir, device="cpu", process=True, cpu_threads=1).load()
    try:
        assert scorer.score([[5, 6, 7]]) and scorer.alive
        os.kill(scorer._process.pid, signal.SIGKILL)
        with pytest.raises(ModelProcessError, match="the model process exited"):
            scorer.score([[5, 6, 7]])
        assert not scorer.alive
    finally:
        scorer.close()
