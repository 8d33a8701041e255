"""HFScorer on a tiny random GPT-NeoX built here (nothing downloaded)."""

import copy

import numpy as np
import pytest
import torch

from abkit.serving.scorer import HFScorer, hf_model_slot, resolve_device, resolve_dtype
from abkit.simulate.transcripts import generate_transcripts
from abkit.text import Message, window_token_ids
from abkit.training.tiny import build_random_classifier

TEMPLATES = [f"T{i:04d}" for i in range(40)]


@pytest.fixture(scope="module")
def corpus():
    return generate_transcripts(seed=3, n_cases=40, n_templates=len(TEMPLATES))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, corpus):
    texts = [m["text"] for case in corpus for m in case["messages"]]
    return build_random_classifier(tmp_path_factory.mktemp("model"), texts, TEMPLATES, model_version="v7", seed=1)


@pytest.fixture(scope="module")
def scorer(model_dir):
    return HFScorer(model_dir, device="cpu")


def conversations(corpus):
    return [[Message(m["role"], m["text"]) for m in case["messages"][: 2 + i % 5]] for i, case in enumerate(corpus)]


def test_loads_version_labels_and_float32_on_cpu(scorer):
    assert scorer.model_version == "v7"
    assert scorer.labels == TEMPLATES
    assert scorer.dtype == torch.float32
    assert not scorer.model.training


def test_encode_is_the_shared_training_window(scorer, corpus):
    long_message = [Message("customer", " ".join(m["text"] for case in corpus[:20] for m in case["messages"]))]
    for messages in [*conversations(corpus), long_message]:
        assert scorer.encode(messages) == window_token_ids(messages, scorer.tokenizer, 512)
    assert len(scorer.encode(long_message)) == 512


def test_top5_is_sorted_softmax_over_known_templates(scorer, corpus):
    ids = scorer.encode(conversations(corpus)[1])
    (top,) = scorer.score([ids])
    assert len(top.template_ids) == len(top.scores) == 5
    assert list(top.scores) == sorted(top.scores, reverse=True)
    assert set(top.template_ids) <= set(TEMPLATES)
    # The scores are the 5 largest softmax probabilities of the full distribution.
    with torch.inference_mode():
        logits = scorer.model(input_ids=torch.tensor([ids])).logits[0]
    expected = torch.softmax(logits, -1).topk(5)
    np.testing.assert_allclose(top.scores, expected.values.numpy(), rtol=1e-5)
    assert list(top.template_ids) == [TEMPLATES[i] for i in expected.indices.tolist()]


def test_batching_and_padding_change_nothing(scorer, corpus):
    sequences = [scorer.encode(messages) for messages in conversations(corpus)]
    assert len({len(s) for s in sequences}) > 5  # really different lengths, so really padded
    batched = scorer.score(sequences)
    alone = [scorer.score([s])[0] for s in sequences]
    for b, a in zip(batched, alone, strict=True):
        assert b.template_ids == a.template_ids
        np.testing.assert_allclose(b.scores, a.scores, rtol=1e-4, atol=1e-6)


def test_a_causal_decoder_runs_without_the_attention_mask(scorer):
    # GPT-NeoX is causal and batches are right-padded: the load-time check finds the mask
    # changes nothing (test_batching_and_padding_change_nothing then compares padded batches
    # run without it against each sequence alone).
    assert scorer.mask_free


def test_a_decoder_that_sees_its_padding_keeps_the_mask(scorer):
    class SeesPadding:
        """Mixes every position into every state: without the mask, padding changes them."""

        config = scorer.model.config

        def base_model(self, input_ids, attention_mask=None):
            states = input_ids.float().unsqueeze(-1).repeat(1, 1, 4)
            weights = torch.ones_like(states) if attention_mask is None else attention_mask.unsqueeze(-1).float()
            return (states + (states * weights).sum(1, keepdim=True) / weights.sum(1, keepdim=True),)

    clone = copy.copy(scorer)
    clone.model = SeesPadding()
    assert not clone._padding_is_invisible()


def test_pooling_matches_hugging_face_last_non_pad_token(scorer, corpus):
    # HF's own GPT-NeoX head pools the right-most non-pad token; ours indexes by length.
    sequences = [scorer.encode(messages) for messages in conversations(corpus)[:6]]
    batch = scorer.batch(sequences)
    with torch.inference_mode():
        reference = scorer.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        ours = scorer.logits(batch)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-4, atol=1e-5)


def test_warm_up_runs(scorer):
    scorer.warm_up(batch_sizes=(2,), lengths=(8,))
    assert len(scorer.score([[5, 6, 7], [8, 9]])) == 2


def test_slot_reads_the_version_without_loading(model_dir):
    slot = hf_model_slot(model_dir, device="cpu")
    assert slot.model_version == "v7"
    assert slot.load().model_version == "v7"


def test_not_a_serving_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an abkit serving directory"):
        HFScorer(tmp_path)


def test_device_and_dtype_choices():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ValueError, match="dtype 'half'"):
        resolve_dtype("half", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
