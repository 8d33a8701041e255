from __future__ import annotations

import pytest
import torch
from transformers import GPTNeoXForSequenceClassification

from abkit.text.transcript import Message
from abkit.training.corpus import CorpusError, LabelledExample
from abkit.training.examples import LabelMap, collate, encode_examples, iterate_batches
from abkit.training.tiny import tiny_gpt_neox_config, train_bpe_tokenizer

TEXTS = ["my card was charged twice", "please refund the order", "the parcel never arrived", "thanks a lot"]


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(TEXTS * 20, vocab_size=300)


def example(*texts: str, template: str = "T1") -> LabelledExample:
    return LabelledExample("c1", "c1-m9", tuple(Message("customer", t) for t in texts), template)


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_window_keeps_the_newest_whole_messages_without_speaker_tags(tokenizer):
    newline = ids(tokenizer, "\n")
    last_two = ids(tokenizer, TEXTS[2]) + newline + ids(tokenizer, TEXTS[3])
    # Room for the last two messages and their separator, one token short of the third.
    budget = len(last_two) + len(newline) + len(ids(tokenizer, TEXTS[1])) - 1
    encoded = encode_examples([example(*TEXTS)], tokenizer, LabelMap(("T1",)), max_tokens=budget)
    assert list(encoded.input_ids[0]) == last_two
    assert tokenizer.decode(encoded.input_ids[0]) == f"{TEXTS[2]}\n{TEXTS[3]}"
    assert "<CUSTOMER>" not in tokenizer.decode(encoded.input_ids[0])


def test_a_single_message_longer_than_the_window_keeps_its_last_tokens(tokenizer):
    long_text = " ".join(TEXTS * 40)
    long_ids = ids(tokenizer, long_text)
    assert len(long_ids) > 512
    encoded = encode_examples([example(TEXTS[0], long_text)], tokenizer, LabelMap(("T1",)), max_tokens=512)
    assert list(encoded.input_ids[0]) == long_ids[-512:]


def test_prefix_tokens_come_first_and_the_window_shrinks_to_fit(tokenizer):
    long_text = " ".join(TEXTS * 40)
    encoded = encode_examples([example(long_text)], tokenizer, LabelMap(("T1",)), max_tokens=512, prefix_ids=(0,))
    assert len(encoded.input_ids[0]) == 512 and encoded.input_ids[0][0] == 0


def test_a_label_missing_from_the_label_map_names_the_record(tokenizer):
    with pytest.raises(
        CorpusError,
        match=r"case 'c1' message 'c1-m9': template_id 'T7' is not in the model's label map \(2 templates\)",
    ):
        encode_examples([example("hi", template="T7")], tokenizer, LabelMap(("T1", "T2")))
    with pytest.raises(CorpusError, match="no labelled examples"):
        encode_examples([], tokenizer, LabelMap(("T1",)))


def test_label_map_is_sorted_and_reads_back_from_id2label():
    examples = [example("a", template="T9"), example("b", template="T1"), example("c", template="T9")]
    label_map = LabelMap.from_examples(examples)
    assert label_map.template_ids == ("T1", "T9")
    # After a JSON round trip, config.id2label has string keys.
    assert LabelMap.from_id2label({"1": "T9", "0": "T1"}) == label_map
    with pytest.raises(ValueError, match="0..n-1"):
        LabelMap.from_id2label({0: "T1", 2: "T9"})
    with pytest.raises(CorpusError, match="no templates"):
        LabelMap(())


def test_right_padding_pools_the_last_real_token(tokenizer):
    """GPTNeoXForSequenceClassification (transformers 5.x) pools the right-most token != pad_token_id."""
    torch.manual_seed(0)
    config = tiny_gpt_neox_config(len(tokenizer), hidden_size=32, pad_token_id=tokenizer.pad_token_id)
    config.num_labels = 3
    model = GPTNeoXForSequenceClassification(config).eval()
    short, long = ids(tokenizer, TEXTS[3]), ids(tokenizer, TEXTS[0] + " " + TEXTS[1])
    batch = collate([short, long], [0, 1], tokenizer.pad_token_id)
    assert batch.input_ids[0, len(short) :].eq(tokenizer.pad_token_id).all()
    with torch.no_grad():
        padded = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        alone = model(input_ids=torch.tensor([short])).logits
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)


def test_evaluation_batches_go_by_length_and_training_batches_by_seeded_shuffle(tokenizer):
    encoded = encode_examples([example(t) for t in TEXTS], tokenizer, LabelMap(("T1",)))
    lengths = [batch.attention_mask.sum(1).tolist() for batch in iterate_batches(encoded, 2, tokenizer.pad_token_id)]
    flat = [n for row in lengths for n in row]
    assert flat == sorted(flat)
    first = [b.input_ids.tolist() for b in iterate_batches(encoded, 2, 1, generator=torch.Generator().manual_seed(3))]
    again = [b.input_ids.tolist() for b in iterate_batches(encoded, 2, 1, generator=torch.Generator().manual_seed(3))]
    assert first == again
