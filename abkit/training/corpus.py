"""The transcript corpus: JSON Lines of cases, labelled examples, and the case-level split.

One case per line::

    {"case_id": "c1", "messages": [{"message_id": "m1", "role": "customer", "text": "...",
                                    "template_id": null}, ...]}

An advocate message with a ``template_id`` is a labelled example: its input is the
conversation before that message, its label the template id.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abkit.text.checks import has_utf8_form
from abkit.text.transcript import Message, MessageError, parse_messages
from abkit.training.outputs import publish, staging_path


class CorpusError(ValueError):
    """A corpus that cannot be used, naming the record and the problem."""


@dataclass(frozen=True)
class Case:
    """One support case: its messages and, per message, the template the advocate chose."""

    case_id: str
    messages: tuple[Message, ...]
    message_ids: tuple[str, ...]
    template_ids: tuple[str | None, ...]


@dataclass(frozen=True)
class LabelledExample:
    """The conversation before an advocate's templated message, and that template."""

    case_id: str
    message_id: str
    context: tuple[Message, ...]
    template_id: str


@dataclass(frozen=True)
class CaseSplit:
    """Cases split into two halves with no case in both."""

    train: tuple[Case, ...]
    test: tuple[Case, ...]


def parse_case(record: Any, *, where: str) -> Case:
    """Validate one corpus record.

    Raises:
        CorpusError: naming ``where`` (file and line), the case id and the bad field.
    """
    if not isinstance(record, Mapping):
        raise CorpusError(f"{where}: must be a JSON object with case_id and messages")
    case_id = record.get("case_id")
    if not isinstance(case_id, str) or not case_id or not has_utf8_form(case_id):
        raise CorpusError(f"{where}: case_id: missing or not a non-empty Unicode string")
    where = f"{where} (case {case_id!r})"
    raw_messages = record.get("messages")
    if not isinstance(raw_messages, list):
        raise CorpusError(f"{where}: messages: missing or not a list")
    try:
        messages = parse_messages(raw_messages)
    except MessageError as error:
        raise CorpusError(f"{where}: {error}") from None
    message_ids, template_ids = [], []
    for index, raw in enumerate(raw_messages):
        message_id, template_id = raw.get("message_id"), raw.get("template_id")
        if not isinstance(message_id, str) or not message_id or not has_utf8_form(message_id):
            raise CorpusError(f"{where}: messages[{index}].message_id: missing or not a non-empty Unicode string")
        if template_id is not None:
            if not isinstance(template_id, str) or not template_id or not has_utf8_form(template_id):
                raise CorpusError(f"{where}: messages[{index}].template_id: must be a non-empty Unicode string or null")
            if raw["role"] != "advocate":
                raise CorpusError(f"{where}: messages[{index}].template_id: only advocate messages use templates")
        message_ids.append(message_id)
        template_ids.append(template_id)
    if len(set(message_ids)) != len(message_ids):
        raise CorpusError(f"{where}: messages: message_id values are not unique")
    return Case(case_id, tuple(messages), tuple(message_ids), tuple(template_ids))


def parse_cases(records: Iterable[Any], *, source: str = "corpus") -> list[Case]:
    """Validate records (already parsed JSON) into cases.

    Raises:
        CorpusError: an empty corpus, a bad record, or a case id seen twice.
    """
    cases: list[Case] = []
    seen: set[str] = set()
    for index, record in enumerate(records):
        case = parse_case(record, where=f"{source} record {index}")
        if case.case_id in seen:
            raise CorpusError(f"{source} record {index}: case_id {case.case_id!r} appears more than once")
        seen.add(case.case_id)
        cases.append(case)
    if not cases:
        raise CorpusError(f"{source}: empty corpus (no cases)")
    return cases


def read_corpus(path: str | Path) -> list[Case]:
    """Read a JSON Lines corpus file; blank lines are skipped.

    Raises:
        CorpusError: naming the file and line of a malformed record, or an empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such corpus file")
    cases: list[Case] = []
    seen: set[str] = set()
    try:
        handle = path.open("rb")
    except OSError as error:
        raise CorpusError(f"{path}: cannot read ({error.strerror})") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CorpusError(f"{path}:{number}: not UTF-8 (byte {error.start + 1} of the line)") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise CorpusError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            case = parse_case(record, where=f"{path}:{number}")
            if case.case_id in seen:
                raise CorpusError(f"{path}:{number}: case_id {case.case_id!r} appears more than once")
            seen.add(case.case_id)
            cases.append(case)
    if not cases:
        raise CorpusError(f"{path}: empty corpus (no cases)")
    return cases


def write_corpus(path: str | Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Write corpus records (dicts in the format above) as JSON Lines; returns the count.

    The file appears whole or not at all (written beside it, then renamed): a corpus cut short
    at a line boundary would still read as a valid, smaller one.
    """
    path = Path(path)
    staging = staging_path(path)
    count = 0
    try:
        with staging.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        publish(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return count


def labelled_examples(cases: Iterable[Case]) -> list[LabelledExample]:
    """Every advocate message with a template, with the conversation before it as input.

    A templated message that opens a case has no input and is skipped.
    """
    examples = []
    for case in cases:
        for index, template_id in enumerate(case.template_ids):
            if template_id is not None and index > 0:
                examples.append(
                    LabelledExample(case.case_id, case.message_ids[index], case.messages[:index], template_id)
                )
    return examples


def split_cases(cases: Sequence[Case], *, seed: int = 0, test_fraction: float = 0.5) -> CaseSplit:
    """Split at the case level (every message of a case lands in the same half).

    The order is a seeded shuffle of the case ids sorted, so the split depends only on the
    set of ids and the seed, not on file order.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if len(cases) < 2:
        raise CorpusError(f"need at least 2 cases to split, got {len(cases)}")
    ordered = sorted(cases, key=lambda case: case.case_id)
    random.Random(seed).shuffle(ordered)
    n_test = min(len(ordered) - 1, max(1, round(len(ordered) * test_fraction)))
    return CaseSplit(train=tuple(ordered[n_test:]), test=tuple(ordered[:n_test]))
