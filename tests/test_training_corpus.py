from __future__ import annotations

import json

import pytest

from abkit.simulate.transcripts import generate_transcripts
from abkit.training.corpus import CorpusError, labelled_examples, parse_cases, read_corpus, split_cases, write_corpus
from tests.training_helpers import record


def test_read_corpus_round_trips_and_labels_the_conversation_before_each_templated_reply(tmp_path):
    path = tmp_path / "corpus.jsonl"
    records = [
        record(
            "c1", ("customer", "refund please", None), ("advocate", "Refunded.", "T1"), ("customer", "thanks", None)
        ),
        record(
            "c2", ("system", "chat started", None), ("customer", "reset password", None), ("advocate", "Done.", "T2")
        ),
    ]
    write_corpus(path, records)
    cases = read_corpus(path)
    assert [case.case_id for case in cases] == ["c1", "c2"]
    examples = labelled_examples(cases)
    assert [(e.case_id, e.message_id, e.template_id) for e in examples] == [
        ("c1", "c1-m1", "T1"),
        ("c2", "c2-m2", "T2"),
    ]
    assert [m.text for m in examples[1].context] == ["chat started", "reset password"]


def test_a_templated_message_that_opens_a_case_has_no_input_and_is_skipped():
    cases = parse_cases([record("c1", ("advocate", "Hello!", "T0"), ("customer", "hi", None))])
    assert labelled_examples(cases) == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            json.dumps(record("c9", ("robot", "beep", None))),
            "corpus.jsonl:2 (case 'c9'): messages[0].role: unknown role 'robot'",
        ),
        (json.dumps(record("c9", ("customer", "hi", "T1"))), "messages[0].template_id: only advocate messages"),
        (json.dumps({"case_id": "c9", "messages": []}), "(case 'c9'): messages: empty message list"),
        (json.dumps({"messages": []}), "corpus.jsonl:2: case_id: missing"),
        (json.dumps(record("c1", ("customer", "hi", None))), "case_id 'c1' appears more than once"),
        ("{not json", "corpus.jsonl:2: not valid JSON"),
        (
            json.dumps({"case_id": "c9", "messages": [{"role": "customer", "text": "hi"}]}),
            "messages[0].message_id: missing",
        ),
    ],
)
def test_bad_records_are_refused_naming_the_line_and_case(tmp_path, line, message):
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps(record("c1", ("customer", "hi", None))) + "\n" + line + "\n")
    with pytest.raises(CorpusError) as error:
        read_corpus(path)
    assert message in str(error.value)


def test_an_empty_corpus_is_refused(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    with pytest.raises(CorpusError, match="empty.jsonl: empty corpus"):
        read_corpus(path)
    with pytest.raises(CorpusError, match="empty corpus"):
        parse_cases([])
    with pytest.raises(CorpusError, match="no such corpus file"):
        read_corpus(tmp_path / "missing.jsonl")


def test_bytes_that_are_not_utf8_and_lone_surrogates_are_refused_naming_the_line(tmp_path):
    good = json.dumps(record("c1", ("customer", "hi", None)))
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(good.encode() + b'\n{"case_id": "c2", "caf\xe9": 1}\n')
    with pytest.raises(CorpusError, match=r"latin1\.jsonl:2: not UTF-8"):
        read_corpus(path)
    # JSON's \ud800 escape decodes to a lone surrogate, which no tokenizer or UTF-8 file takes.
    for field, bad in [("text", record("c2", ("customer", "hi \ud800", None))), ("case_id", record("c\udfff"))]:
        path = tmp_path / f"surrogate-{field}.jsonl"
        path.write_text(good + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(CorpusError, match=rf"surrogate-{field}\.jsonl:2.*{field}: .*Unicode"):
            read_corpus(path)


def test_the_case_level_split_has_zero_overlap_and_depends_only_on_ids_and_seed():
    cases = parse_cases(generate_transcripts(3, 200, n_templates=32))
    split = split_cases(cases, seed=7)
    train_ids = {case.case_id for case in split.train}
    test_ids = {case.case_id for case in split.test}
    assert not train_ids & test_ids
    assert train_ids | test_ids == {case.case_id for case in cases}
    assert len(test_ids) == 100
    # No labelled message crosses the split.
    train_messages = {e.message_id for e in labelled_examples(split.train)}
    test_messages = {e.message_id for e in labelled_examples(split.test)}
    assert not train_messages & test_messages
    assert {e.case_id for e in labelled_examples(split.test)} <= test_ids
    # File order does not matter; the seed does.
    assert split_cases(list(reversed(cases)), seed=7) == split
    assert {c.case_id for c in split_cases(cases, seed=8).test} != test_ids


def test_split_needs_two_cases_and_a_fraction_inside_0_1():
    cases = parse_cases([record("c1", ("customer", "hi", None))])
    with pytest.raises(CorpusError, match="at least 2 cases"):
        split_cases(cases)
    with pytest.raises(ValueError, match="test_fraction"):
        split_cases(cases * 2, test_fraction=1.0)


def test_fine_tuning_a_corpus_of_one_template_is_refused_before_any_model_is_read(tmp_path):
    # one class makes every prediction right by construction; the source is never opened
    from abkit.training.pipeline import run_finetune
    from tests.training_helpers import TINY

    cases = parse_cases(
        [record(f"c{i}", ("customer", f"question {i}", None), ("advocate", "the same reply", "t1")) for i in range(8)]
    )
    with pytest.raises(CorpusError, match=r"at least 2 templates.*'t1'"):
        run_finetune(tmp_path / "no-model", cases, TINY, None, progress=False)
