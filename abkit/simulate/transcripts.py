"""Support-case transcripts whose wording depends on the templates that answer them.

The format (one JSON object per case, JSON Lines on disk; docs/simulate.md)::

    {"case_id": "s7-c00000001",
     "messages": [{"message_id": "s7-c00000001-u0", "role": "system", "text": "...", "template_id": null},
                  {"message_id": "s7-c00000001-u1", "role": "customer", "text": "...", "template_id": null},
                  {"message_id": "s7-c00000001-a0", "role": "advocate", "text": "...", "template_id": "T0042"}]}

An advocate message with a ``template_id`` is labelled: the template is the label of the
conversation up to, not including, that message. Its ``message_id`` (``<case>-a<j>``, j the
selection's position in the case) is the ``message_id`` of the matching prediction and
selection events written by the simulator.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from abkit.simulate import rich_language
from abkit.simulate import vocabulary as vocab
from abkit.simulate.catalogue import Catalogue, build_catalogue, sample_templates
from abkit.simulate.settings import TextSettings, WorldSettings
from abkit.simulate.structure import sample_case_shape

TRANSFER_MESSAGE = "Conversation transferred to another advocate."  # system message: a new advocate takes over


def case_id_for(seed: int, index: int) -> str:
    """The id of case ``index`` in the world of ``seed`` (seeded, so two worlds never collide)."""
    return f"s{seed}-c{index:08d}"


class _CaseWriter:
    """Renders the messages of one case; holds the running message counter."""

    def __init__(
        self, case_id: str, catalogue: Catalogue, text: TextSettings, rnd: random.Random, language: str = "plain"
    ):
        self.case_id, self.catalogue, self.text, self.rnd = case_id, catalogue, text, rnd
        self.messages: list[dict[str, Any]] = []
        self._unlabelled = 0
        rich = language == "rich"
        self.patterns = vocab.INTENT_PATTERNS + (rich_language.MORE_INTENT_PATTERNS if rich else ())
        self.fillers = vocab.FILLERS + (rich_language.MORE_FILLERS if rich else ())
        self.replies = (
            rich_language.template_replies(tuple(map(int, catalogue.objects)), tuple(map(int, catalogue.actions)))
            if rich
            else None
        )

    def reply(self, template: int) -> str:
        """The templated advocate message: the plain catalogue's text, or the rich language's."""
        return self.catalogue.reply_text(template) if self.replies is None else self.replies[template]

    def add(self, role: str, text: str, template_id: str | None = None, selection_number: int | None = None) -> None:
        if selection_number is None:
            message_id = f"{self.case_id}-u{self._unlabelled}"
            self._unlabelled += 1
        else:
            message_id = f"{self.case_id}-a{selection_number}"
        self.messages.append({"message_id": message_id, "role": role, "text": text, "template_id": template_id})

    def _fillers(self) -> list[str]:
        return self.rnd.sample(self.fillers, self.rnd.randint(0, self.text.max_fillers))

    def intent(self, template: int, *, opener: str) -> str:
        """The customer's request for ``template``: noisy mentions of its object and action."""
        rnd, text, cat = self.rnd, self.text, self.catalogue
        obj_forms = vocab.OBJECTS[cat.objects[template]]
        act_forms = vocab.ACTIONS[cat.actions[template]]
        details = [vocab.DETAILS[d] for d in cat.details[template] if rnd.random() < text.detail_mention]
        detail = details[0] if details else rnd.choice(vocab.DETAILS)
        named_obj = rnd.random() < text.object_mention
        named_act = rnd.random() < text.action_mention
        if named_obj and named_act:
            core = rnd.choice(self.patterns).format(act=rnd.choice(act_forms), obj=rnd.choice(obj_forms), detail=detail)
        elif named_obj:
            core = f"I {rnd.choice(vocab.VAGUE_ACTIONS)} my {rnd.choice(obj_forms)}."
        elif named_act:
            core = f"I want to {rnd.choice(act_forms)} {rnd.choice(vocab.PRONOUNS)}."
        else:
            core = f"I {rnd.choice(vocab.VAGUE_ACTIONS)} {rnd.choice(vocab.PRONOUNS)}."
        sentences = [opener, core] if opener else [core]
        sentences += [f"It is {word}." for word in details[1:]]
        if rnd.random() < text.confusion:
            other = rnd.randrange(cat.size)
            sentences.append(
                f"Last time I had to {vocab.ACTIONS[cat.actions[other]][0]} my {vocab.OBJECTS[cat.objects[other]][0]}."
            )
        sentences += self._fillers()
        head = 2 if opener else 1
        tail = sentences[head:]
        rnd.shuffle(tail)
        return " ".join(sentences[:head] + tail)

    def follow_up(self, template: int) -> str:
        cat = self.catalogue
        return self.rnd.choice(vocab.FOLLOW_UPS).format(
            detail=vocab.DETAILS[self.rnd.choice(list(cat.details[template]))],
            obj=self.rnd.choice(vocab.OBJECTS[cat.objects[template]]),
        )


def render_case(
    case_id: str,
    interactions: Sequence[Sequence[int]],
    catalogue: Catalogue,
    text: TextSettings,
    rnd: random.Random,
    language: str = "plain",
) -> dict[str, Any]:
    """One case's transcript.

    Args:
        case_id: the case id.
        interactions: per advocate (a transfer starts a new one), the template index of each
            selection, in order.
        catalogue: the template catalogue.
        text: wording noise.
        rnd: the case's random source.
        language: ``plain`` (the simulator's), or ``rich`` (``abkit.simulate.rich_language``).
    """
    writer = _CaseWriter(case_id, catalogue, text, rnd, language)
    first = interactions[0][0]
    page_object = catalogue.objects[first]
    channel = (
        vocab.CHANNELS[page_object % len(vocab.CHANNELS)]
        if rnd.random() < text.page_hint
        else rnd.choice(vocab.CHANNELS)
    )
    writer.add("system", f"Chat started from the {channel}. Customer plan: {rnd.choice(vocab.PLANS)}.")
    number = 0
    for index, templates in enumerate(interactions):
        if index:
            writer.add("system", TRANSFER_MESSAGE)
        for position, template in enumerate(templates):
            opener = rnd.choice(vocab.GREETINGS) if number == 0 else rnd.choice(vocab.SECOND_INTENT_OPENERS)
            writer.add("customer", writer.intent(template, opener=opener))
            if position == 0 and rnd.random() < text.small_talk:
                writer.add("advocate", rnd.choice(vocab.ADVOCATE_SMALL_TALK))
            if rnd.random() < text.follow_up:
                writer.add("customer", writer.follow_up(template))
            writer.add("advocate", writer.reply(template), catalogue.template_ids[template], number)
            number += 1
    return {"case_id": case_id, "messages": writer.messages}


def render_cases(
    case_ids: Sequence[str],
    selection_case: np.ndarray,
    selection_interaction: np.ndarray,
    templates: np.ndarray,
    catalogue: Catalogue,
    text: TextSettings,
    seed: int,
    language: str = "plain",
) -> Iterable[dict[str, Any]]:
    """Transcripts of many cases from the simulator's selection arrays (cases in order).

    ``selection_case`` indexes ``case_ids``; selections of a case are contiguous and in order.
    The text of case ``i`` depends only on ``(seed, case_ids[i])`` and its templates.
    """
    if selection_case.size == 0:
        return
    bounds = np.flatnonzero(np.r_[True, selection_case[1:] != selection_case[:-1], True])
    for start, stop in zip(bounds[:-1], bounds[1:], strict=False):
        case_id = case_ids[int(selection_case[start])]
        groups: list[list[int]] = []
        previous = None
        for interaction, template in zip(selection_interaction[start:stop], templates[start:stop], strict=True):
            if interaction != previous:
                groups.append([])
                previous = interaction
            groups[-1].append(int(template))
        yield render_case(case_id, groups, catalogue, text, random.Random(f"{seed}:{case_id}"), language)


def generate_transcripts(
    seed: int, n_cases: int, n_templates: int = 640, *, language: str = "plain"
) -> list[dict[str, Any]]:
    """A corpus of ``n_cases`` synthetic support cases with labelled advocate messages.

    Templates follow the world's Zipf volumes (all templates live); the catalogue is the same
    for every seed, so corpora from different seeds share labels.

    Args:
        seed: random seed; the same seed gives the same corpus.
        n_cases: number of cases (each has one or more labelled messages).
        n_templates: size of the label set (2..960).
        language: ``plain``, the simulator's wording; ``rich``, template-specific replies and
            more ways to ask (``abkit.simulate.rich_language``), for training demos.

    Returns:
        One dict per case in the JSON Lines format of this module.

    Raises:
        ValueError: ``n_cases`` is negative, ``n_templates`` out of range or ``language`` unknown.
    """
    if language not in rich_language.LANGUAGES:
        raise ValueError(f"language: must be one of {list(rich_language.LANGUAGES)}, got {language!r}")
    if n_cases < 0:
        raise ValueError(f"n_cases: must be >= 0, got {n_cases}")
    settings = WorldSettings(n_templates=n_templates)
    catalogue = build_catalogue(n_templates)
    rng = np.random.default_rng([seed, 0x7E57])
    shape = sample_case_shape(
        rng,
        n_cases,
        transfer_probability=settings.transfer_probability,
        extra_selections_mean=settings.extra_selections_mean,
    )
    templates = sample_templates(rng, catalogue.zipf_weights(settings.zipf_exponent), shape.n_selections)
    case_ids = [case_id_for(seed, index) for index in range(n_cases)]
    return list(
        render_cases(
            case_ids,
            shape.selection_case,
            shape.selection_interaction,
            templates,
            catalogue,
            settings.text,
            seed,
            language,
        )
    )


def jsonl_line(transcript: dict[str, Any]) -> str:
    """One case as a line of JSON Lines (compact, UTF-8 text kept as is, newline-terminated)."""
    return json.dumps(transcript, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_jsonl(transcripts: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write transcripts as JSON Lines (UTF-8, one case per line); returns the number of cases."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as out:
        for transcript in transcripts:
            out.write(jsonl_line(transcript))
            count += 1
    return count
