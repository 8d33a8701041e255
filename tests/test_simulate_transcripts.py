"""Transcripts: format, determinism, and wording that a simple classifier can learn."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from abkit.simulate.catalogue import MAX_TEMPLATES, build_catalogue
from abkit.simulate.transcripts import generate_transcripts, write_jsonl
from abkit.text.transcript import ROLES, parse_messages

MESSAGE_KEYS = {"message_id", "role", "text", "template_id"}


def test_format_roles_labels_and_ids():
    corpus = generate_transcripts(seed=3, n_cases=300, n_templates=640)
    assert len(corpus) == 300
    ids = set()
    template_ids = set(build_catalogue(640).template_ids)
    for case in corpus:
        assert set(case) == {"case_id", "messages"}
        assert isinstance(case["case_id"], str) and case["case_id"]
        messages = case["messages"]
        parse_messages(messages)  # roles and non-empty texts, as training and serving read them
        labelled = [m for m in messages if m["template_id"] is not None]
        assert labelled, "every case has at least one labelled advocate message"
        for index, message in enumerate(messages):
            assert set(message) == MESSAGE_KEYS
            assert message["role"] in ROLES
            assert message["message_id"].startswith(case["case_id"] + "-")
            ids.add(message["message_id"])
            if message["template_id"] is not None:
                assert message["role"] == "advocate"
                assert message["template_id"] in template_ids
                assert index > 0 and any(m["role"] == "customer" for m in messages[:index])
        # labelled messages are numbered a0, a1, ... in order: the simulator's event message ids
        assert [m["message_id"].rsplit("-", 1)[1] for m in labelled] == [f"a{j}" for j in range(len(labelled))]
    assert len(ids) == sum(len(case["messages"]) for case in corpus), "message ids are unique"


def test_same_seed_same_corpus_other_seed_other_corpus():
    assert generate_transcripts(11, 50) == generate_transcripts(11, 50)
    assert generate_transcripts(11, 50) != generate_transcripts(12, 50)


def test_catalogue_is_shared_across_seeds():
    labels_1 = {m["template_id"] for c in generate_transcripts(1, 200, 20) for m in c["messages"]} - {None}
    labels_2 = {m["template_id"] for c in generate_transcripts(2, 200, 20) for m in c["messages"]} - {None}
    assert labels_1 <= set(build_catalogue(20).template_ids)
    assert len(labels_1 & labels_2) >= 15


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="n_cases"):
        generate_transcripts(1, -1)
    with pytest.raises(ValueError, match="n_templates"):
        generate_transcripts(1, 10, n_templates=MAX_TEMPLATES + 1)
    with pytest.raises(ValueError, match="n_templates"):
        generate_transcripts(1, 10, n_templates=1)
    assert generate_transcripts(1, 0) == []


def test_jsonl_round_trip(tmp_path):
    corpus = generate_transcripts(5, 20)
    path = tmp_path / "transcripts.jsonl"
    assert write_jsonl(corpus, path) == 20
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == corpus


def _examples(corpus):
    """(context text, label) per labelled message: the two messages before it."""
    for case in corpus:
        messages = case["messages"]
        for index, message in enumerate(messages):
            if message["template_id"] is not None:
                context = " ".join(m["text"] for m in messages[max(0, index - 2) : index])
                yield context, message["template_id"]


def _bags(texts, vocabulary):
    matrix = np.zeros((len(texts), len(vocabulary)))
    for row, text in enumerate(texts):
        for word in re.findall(r"[a-z0-9-]+", text.lower()):
            column = vocabulary.get(word)
            if column is not None:
                matrix[row, column] += 1
    return matrix


def _nearest_centroid(n_templates, n_train, n_test):
    """Top-1, top-5 of a tf-idf nearest-centroid classifier trained on seed 1, tested on seed 2; majority share."""
    train = list(_examples(generate_transcripts(1, n_train, n_templates)))
    test = list(_examples(generate_transcripts(2, n_test, n_templates)))
    words = Counter(w for text, _ in train for w in re.findall(r"[a-z0-9-]+", text.lower()))
    vocabulary = {w: i for i, w in enumerate(sorted(words))}
    labels = {label: i for i, label in enumerate(sorted({label for _, label in train}))}
    x_train = _bags([t for t, _ in train], vocabulary)
    y_train = np.array([labels[label] for _, label in train])
    # tf-idf weighting, then class centroids on the unit sphere (cosine similarity)
    idf = np.log(len(train) / (1 + (x_train > 0).sum(axis=0)))
    centroids = np.zeros((len(labels), len(vocabulary)))
    np.add.at(centroids, y_train, x_train)
    centroids *= idf
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12
    similarity = (_bags([t for t, _ in test], vocabulary) * idf) @ centroids.T
    ranked = np.argsort(-similarity, axis=1)[:, :5]
    truth = np.array([labels.get(label, -1) for _, label in test])
    top1 = float(np.mean(ranked[:, 0] == truth))
    top5 = float(np.mean((ranked == truth[:, None]).any(axis=1)))
    majority = Counter(truth.tolist()).most_common(1)[0][1] / len(truth)
    print(f"{n_templates} templates: nearest centroid top-1 {top1:.3f}, top-5 {top5:.3f}; majority {majority:.3f}")
    return top1, top5, majority


def test_wording_depends_on_template_nearest_centroid_beats_majority():
    """A bag-of-words nearest-centroid classifier learns the labels; the majority class does not."""
    top1, _, majority = _nearest_centroid(40, 3000, 600)
    assert top1 > majority + 0.2, (top1, majority)
    assert top1 < 0.95, "noisy wording: the task must not be trivial"


@pytest.mark.slow
def test_full_label_set_is_learnable_but_not_trivial():
    """With all 640 templates the simple baseline lands well below the real model's ~50% top-1."""
    top1, top5, majority = _nearest_centroid(640, 10_000, 1500)
    assert top1 > majority + 0.15
    assert top5 > top1 + 0.1
    assert top1 < 0.6


def test_rich_language_keeps_the_format_and_labels_and_leaves_the_plain_language_alone():
    plain = generate_transcripts(7, 120, 40)
    rich = generate_transcripts(7, 120, 40, language="rich")
    assert plain == generate_transcripts(7, 120, 40, language="plain"), "the default is the plain language"

    # The same cases and labelled messages (ids, templates): the wording differs.
    def labelled(corpus):
        return [
            (c["case_id"], [(m["message_id"], m["template_id"]) for m in c["messages"] if m["template_id"]])
            for c in corpus
        ]

    assert labelled(rich) == labelled(plain)
    assert rich != plain and rich == generate_transcripts(7, 120, 40, language="rich")
    for case in rich:
        parse_messages(case["messages"])
    with pytest.raises(ValueError, match="language"):
        generate_transcripts(1, 10, language="klingon")


def test_rich_replies_are_one_canned_text_per_template_and_tell_templates_apart():
    """Each template's reply is fixed (a template is a canned text) and no two templates share one."""
    replies: dict[str, set[str]] = {}
    for case in generate_transcripts(3, 400, 40, language="rich"):
        for message in case["messages"]:
            if message["template_id"] is not None:
                replies.setdefault(message["template_id"], set()).add(message["text"])
    assert all(len(texts) == 1 for texts in replies.values())
    texts = [next(iter(texts)) for texts in replies.values()]
    assert len(set(texts)) == len(texts) > 20
    # Longer than the plain replies (more of the language model's loss is in them).
    plain = [m["text"] for c in generate_transcripts(3, 400, 40) for m in c["messages"] if m["template_id"]]
    assert np.mean([len(t.split()) for t in texts]) > 1.5 * np.mean([len(t.split()) for t in plain])


def test_rich_requests_have_more_wordings():
    def first_requests(language):
        return {
            re.sub(r"^(hi|hello|hey there|good morning|good afternoon|hi team|hello support),? ", "", text.lower())
            for case in generate_transcripts(5, 600, 40, language=language)
            for text in [next(m["text"] for m in case["messages"] if m["role"] == "customer")]
        }

    assert len(first_requests("rich")) > len(first_requests("plain"))
