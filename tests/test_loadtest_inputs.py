import json

import pytest

from abkit.loadtest.inputs import CasesError, load_cases, request_bodies, simulated_cases
from abkit.text import parse_messages

CASE = {
    "case_id": "c1",
    "messages": [
        {"message_id": "c1-u0", "role": "customer", "text": "my card was declined"},
        {"message_id": "c1-a0", "role": "advocate", "text": "let me check", "template_id": "T1"},
        {"message_id": "c1-u1", "role": "customer", "text": "thanks"},
        {"message_id": "c1-a1", "role": "advocate", "text": "done", "template_id": "T2"},
    ],
}


def test_reads_json_lines_and_json_lists(tmp_path):
    lines = tmp_path / "cases.jsonl"
    lines.write_text(json.dumps(CASE) + "\n\n" + json.dumps({**CASE, "case_id": "c2"}) + "\n")
    listed = tmp_path / "cases.json"
    listed.write_text(json.dumps([CASE]))
    assert [c["case_id"] for c in load_cases(lines)] == ["c1", "c2"]
    assert [c["case_id"] for c in load_cases(listed)] == ["c1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"case_id": "c1", "messages": [}\n', "line 1: not valid JSON"),
        ('{"messages": []}\n', "line 1: expected an object with a non-empty case_id"),
        ('{"case_id": "c1", "messages": []}\n', "line 1: messages: empty message list"),
        ('{"case_id": "c1", "messages": [{"role": "bot", "text": "x"}]}\n', "unknown role 'bot'"),
        ("\n", "no cases"),
    ],
)
def test_bad_case_files_name_the_line_and_problem(tmp_path, content, message):
    path = tmp_path / "cases.jsonl"
    path.write_text(content)
    with pytest.raises(CasesError, match=message):
        load_cases(path)


def test_missing_file(tmp_path):
    with pytest.raises(CasesError, match="cannot read"):
        load_cases(tmp_path / "nope.jsonl")


def test_bodies_stop_just_before_an_advocate_reply():
    bodies = request_bodies([CASE], seed=1)
    seen = set()
    for _ in range(50):
        body = next(bodies)
        parse_messages(body["messages"])  # always a valid conversation
        assert body["case_id"] == "c1" and body["advocate_id"].startswith("loadtest-adv-")
        seen.add((len(body["messages"]), body["message_id"]))
    # Cuts before c1-a0 (1 message, last c1-u0) and before c1-a1 (3 messages, last c1-u1).
    assert seen == {(1, "c1-u0"), (3, "c1-u1")}


def test_same_seed_same_bodies():
    first, second = request_bodies([CASE], seed=4), request_bodies([CASE], seed=4)
    assert [next(first) for _ in range(5)] == [next(second) for _ in range(5)]


def test_simulated_cases_are_valid_conversations():
    cases = simulated_cases(seed=2, n_cases=5, n_templates=20)
    body = next(request_bodies(cases))
    assert parse_messages(body["messages"])
