import pytest
import torch

from abkit.serving.scorer import TokenBatch


def test_right_pads_to_the_longest_sequence():
    batch = TokenBatch.from_sequences([[5, 6, 7], [8]], pad_token_id=1)
    assert batch.input_ids.tolist() == [[5, 6, 7], [8, 1, 1]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch.lengths.tolist() == [3, 1]
    assert batch.input_ids.shape == (2, 3)
    assert batch.input_ids.dtype == torch.long


def test_cpu_transfer_is_a_no_op():
    batch = TokenBatch.from_sequences([[1, 2]], pad_token_id=0)
    assert batch.to("cpu") is batch


@pytest.mark.parametrize(
    ("sequences", "message"),
    [([], "no sequences"), ([[1], []], "sequence 1 is empty")],
)
def test_refuses_empty_input(sequences, message):
    with pytest.raises(ValueError, match=message):
        TokenBatch.from_sequences(sequences, pad_token_id=0)
