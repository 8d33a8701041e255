"""Request bodies for a load test, sampled from a transcript file or the simulator."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from abkit.text import MessageError, parse_messages


class CasesError(ValueError):
    """A cases file that cannot be used, naming the line and the problem."""


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """Read cases (``{"case_id", "messages": [{"role", "text", ...}]}``) from JSON Lines or a JSON list.

    This is the transcript format of :mod:`abkit.simulate.transcripts`.

    Raises:
        CasesError: unreadable file, bad JSON, or a case without an id or usable messages.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CasesError(f"{file}: cannot read ({error})") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = list(enumerate(json.loads(text), start=1))
        except json.JSONDecodeError as error:
            raise CasesError(f"{file}: not valid JSON ({error})") from None
        where = "item"
    else:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise CasesError(f"{file}: line {number}: not valid JSON ({error.msg})") from None
        where = "line"
    cases = []
    for number, case in items:
        if not isinstance(case, dict) or not isinstance(case.get("case_id"), str) or not case["case_id"]:
            raise CasesError(f"{file}: {where} {number}: expected an object with a non-empty case_id")
        try:
            parse_messages(case.get("messages") or [], where=f"{where} {number}: messages")
        except MessageError as error:
            raise CasesError(f"{file}: {error}") from None
        cases.append(case)
    if not cases:
        raise CasesError(f"{file}: no cases")
    return cases


def simulated_cases(seed: int = 0, n_cases: int = 200, n_templates: int = 640) -> list[dict[str, Any]]:
    """Cases from the support-world simulator (used when no file is given)."""
    from abkit.simulate.transcripts import generate_transcripts

    return generate_transcripts(seed, n_cases, n_templates)


def request_bodies(cases: Sequence[dict[str, Any]], *, seed: int = 0, advocates: int = 200) -> Iterator[dict[str, Any]]:
    """Endless suggest request bodies: a random case cut just before one of its advocate replies.

    The conversation up to (not including) an advocate message is what the advocate's tool
    would send; a case with no advocate message is sent whole.
    """
    rnd = random.Random(seed)
    cuts = []
    for case in cases:
        messages = case["messages"]
        points = [k for k in range(1, len(messages)) if messages[k].get("role") == "advocate"] or [len(messages)]
        cuts.append(points)
    while True:
        index = rnd.randrange(len(cases))
        case, k = cases[index], rnd.choice(cuts[index])
        context = case["messages"][:k]
        last = context[-1]
        yield {
            "case_id": case["case_id"],
            "message_id": str(last.get("message_id") or f"{case['case_id']}-m{k - 1}"),
            "advocate_id": f"loadtest-adv-{rnd.randrange(advocates)}",
            "messages": [{"role": m["role"], "text": m["text"]} for m in context],
        }
