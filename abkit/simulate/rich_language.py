"""A richer transcript language, for training demos that need an LM loss that keeps improving.

The plain language (``vocabulary``) is learnt by a small language model in a few hundred steps:
the replies are 20 sentences with an object name in them, the customers' requests six patterns.
``language="rich"`` in :func:`~abkit.simulate.transcripts.generate_transcripts` changes two things:

- **Template-specific replies.** A template's reply is its own canned text of three parts,
  fixed per template (as a real template is): an action sentence in one of three wordings of
  its action, an object sentence (where the object is managed), and a closing sentence with
  the template's own reference words. Predicting a reply means knowing which template the
  request calls for, so more of the LM loss is the classifier's task, and it takes longer to learn.
- **More ways to ask.** Three times the request patterns and fillers, so the customers' side
  has more wording to learn before it stops improving.

Only the training corpus uses it; the A/B simulator's transcripts and calibrated figures
keep the plain language.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from abkit.simulate import vocabulary as vocab

LANGUAGES = ("plain", "rich")
RICH_SEED = 20_260_211  # fixed, like the catalogue's: the replies must not move with the world's seed

# Two more wordings of each action's reply (vocabulary.ACTION_REPLIES is the first).
ACTION_REPLY_VARIANTS: tuple[tuple[str, str], ...] = (
    ("Your {obj} is cancelled now.", "As you asked, the {obj} has been cancelled."),
    ("The {obj} now shows your new details.", "I went ahead and changed the {obj} for you."),
    ("I can see where your {obj} is right now.", "The {obj} has been located in our system."),
    ("Your {obj} is back to its original state.", "A reset of the {obj} has been triggered."),
    ("Everything about your {obj} checks out.", "I verified the {obj} and it is valid."),
    ("The {obj} is paid for now.", "Payment for the {obj} has been scheduled."),
    ("Your complaint about the {obj} is logged as a dispute.", "The {obj} is now under dispute."),
    ("Your {obj} runs for another term.", "I extended the {obj} for you."),
    ("The {obj} is gone for good.", "I removed your {obj} permanently."),
    ("The {obj} is moving to the new place.", "I transferred your {obj}."),
    ("The {obj} is switched on.", "I turned on your {obj}."),
    ("The {obj} is on hold now.", "I switched off your {obj} for the moment."),
    ("Here is the latest on your {obj}.", "I looked up the status of the {obj}."),
    ("Your {obj} is on the higher tier now.", "I moved the {obj} up a level."),
    ("Your {obj} is on the lower tier now.", "I moved the {obj} down a level."),
    ("I opened a fault ticket for the {obj}.", "The problem with your {obj} is reported."),
    ("A fresh copy of the {obj} is on its way to you.", "I resent the {obj}."),
    ("The {obj} is linked to your account.", "I registered the {obj} for you."),
    ("The {obj} is split in two parts now.", "I divided the {obj} as you wanted."),
    ("The {obj} has been redeemed.", "I used the {obj} on your order."),
)

SECTIONS: tuple[str, ...] = (
    "Settings",
    "My orders",
    "Billing",
    "Profile",
    "Security",
    "Plans",
    "Devices",
    "Wallet",
    "Deliveries",
    "Rewards",
    "Documents",
    "Help",
)
PLACES: tuple[str, ...] = ("app", "website", "customer portal", "account page", "self-service area", "dashboard")
OBJECT_NOTE_PATTERNS: tuple[str, ...] = (
    "You can manage your {obj} under {section} in the {place}.",
    "Anything about the {obj} is listed in {section} on the {place}.",
    "For your {obj}, the {section} tab of the {place} has the details.",
    "The {obj} appears in the {section} part of your {place}.",
)
CLOSING_PATTERNS: tuple[str, ...] = (
    "Your reference is {a} {b}.",
    "Please quote {a} {b} if you contact us again.",
    "The case is filed as {a} {b}.",
    "Keep the code {a} {b} for your records.",
    "Our {a} team will follow up under {b}.",
    "This was handled by the {a} desk, ticket {b}.",
)
REFERENCE_WORDS: tuple[str, ...] = (
    "alpha",
    "bravo",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "garnet",
    "hazel",
    "indigo",
    "juniper",
    "kestrel",
    "lagoon",
    "maple",
    "nectar",
    "onyx",
    "pepper",
    "quill",
    "raven",
    "saffron",
    "tundra",
    "umber",
    "violet",
    "walnut",
    "yarrow",
)

# Request patterns beyond vocabulary.INTENT_PATTERNS ({act}, {obj}, {detail} as there).
MORE_INTENT_PATTERNS: tuple[str, ...] = (
    "Is it possible to {act} my {obj}?",
    "I am trying to {act} the {obj} but I am stuck.",
    "Could someone {act} my {obj} for me?",
    "I would appreciate it if you could {act} my {obj}.",
    "What do I need to do to {act} the {obj}?",
    "My {obj} is {detail} and I want to {act} it.",
    "I was told you can {act} the {obj} from your side.",
    "Any chance you can {act} my {obj} today?",
    "Where can I {act} my {obj}?",
    "I want you to {act} my {obj}, the {detail} one.",
    "Help me {act} my {obj} please.",
    "The {detail} {obj} needs someone to {act} it.",
)
MORE_FILLERS: tuple[str, ...] = (
    "I have a busy day so a short answer is fine.",
    "This happened once before last year.",
    "My partner usually handles this but they are away.",
    "I read the FAQ twice.",
    "Your chat was hard to find.",
    "I waited on the phone line for a while.",
    "Nothing on the status page mentions it.",
    "I am writing from work.",
    "It worked fine until recently.",
    "I am not very good with computers.",
    "I got an email about it but it was unclear.",
    "Please do not close my account.",
    "I would rather not call.",
    "The app keeps logging me out.",
    "I tried two different browsers.",
    "I can send a screenshot if needed.",
    "My neighbour had the same problem.",
    "I am travelling next week.",
    "English is not my first language, sorry.",
    "It is the first time I contact you.",
    "I do not want to be charged again.",
    "The last agent could not help.",
    "I hope this is quick.",
    "I have my customer number ready.",
    "Just following up on my own.",
    "I checked my spam folder too.",
    "The instructions were confusing.",
    "I need this for my accountant.",
    "Everything else works fine.",
    "I have been patient so far.",
    "Thank you for your time.",
    "I really need this sorted out.",
)


@lru_cache(maxsize=8)
def template_replies(objects: tuple[int, ...], actions: tuple[int, ...]) -> tuple[str, ...]:
    """The rich reply of each template (a deterministic function of its object and action and index)."""
    rng = np.random.default_rng(RICH_SEED)
    object_notes = [
        OBJECT_NOTE_PATTERNS[rng.integers(len(OBJECT_NOTE_PATTERNS))].format(
            obj="{obj}", section=SECTIONS[rng.integers(len(SECTIONS))], place=PLACES[rng.integers(len(PLACES))]
        )
        for _ in vocab.OBJECTS
    ]
    replies = []
    for obj, act in zip(objects, actions, strict=True):
        wording = rng.integers(3)
        action_sentence = (vocab.ACTION_REPLIES[act], *ACTION_REPLY_VARIANTS[act])[wording]
        a, b = rng.choice(len(REFERENCE_WORDS), size=2, replace=False)
        closing = CLOSING_PATTERNS[rng.integers(len(CLOSING_PATTERNS))].format(
            a=REFERENCE_WORDS[a], b=REFERENCE_WORDS[b]
        )
        name = vocab.OBJECTS[obj][0]
        replies.append(f"{action_sentence.format(obj=name)} {object_notes[obj].format(obj=name)} {closing}")
    return tuple(replies)
