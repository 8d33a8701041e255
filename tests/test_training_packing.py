from __future__ import annotations

import pytest

from abkit.simulate.transcripts import generate_transcripts
from abkit.training.corpus import parse_cases
from abkit.training.packing import pack_documents
from abkit.training.pipeline import pack_cases
from abkit.training.tiny import train_bpe_tokenizer


def test_documents_are_concatenated_with_end_of_text_and_cut_into_full_sequences():
    packed = pack_documents([[5, 6, 7], [8], [9, 10]], context_length=4, eos_token_id=0, pad_token_id=1)
    # Stream: 5 6 7 EOS 8 EOS 9 10 EOS -> 9 tokens in 3 rows of 4, 3 padding slots.
    assert packed.input_ids.tolist() == [[5, 6, 7, 0], [8, 0, 9, 10], [0, 1, 1, 1]]
    assert packed.attention_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert packed.labels().tolist()[2] == [0, -100, -100, -100]
    assert (packed.documents, packed.tokens, packed.n_sequences) == (3, 9, 3)
    assert packed.fill_rate == pytest.approx(9 / 12)


def test_fill_rate_on_the_demo_corpus_is_above_99_percent():
    cases = parse_cases(generate_transcripts(0, 600, n_templates=64))
    tokenizer = train_bpe_tokenizer([m.text for c in cases[:100] for m in c.messages], vocab_size=400)
    packed = pack_cases(cases, tokenizer, context_length=256)
    assert packed.documents == 600
    assert packed.fill_rate > 0.99
    # Only the last sequence may hold padding.
    assert packed.attention_mask[:-1].all()


def test_bad_packing_inputs_are_refused():
    with pytest.raises(ValueError, match="context_length"):
        pack_documents([[1]], context_length=1, eos_token_id=0, pad_token_id=1)
    with pytest.raises(ValueError, match="no documents"):
        pack_documents([], context_length=8, eos_token_id=0, pad_token_id=1)
