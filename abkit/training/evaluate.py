"""Re-evaluating a serving directory on a labelled corpus (``abkit train evaluate``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from abkit.training.corpus import Case, CorpusError, labelled_examples, split_cases
from abkit.training.examples import LabelMap, encode_examples
from abkit.training.finetune import ensure_pad_token, evaluate_classifier
from abkit.training.metrics import ClassificationMetrics, majority_baseline
from abkit.training.optim import Runtime
from abkit.training.serving_dir import check_serving_dir

Half = Literal["all", "train", "test"]


@dataclass(frozen=True)
class Evaluation:
    """A serving directory's figures on a corpus; the majority baseline when a split is used."""

    model_version: str
    metrics: ClassificationMetrics
    majority: ClassificationMetrics | None


def evaluate_serving_dir(
    directory: str | Path,
    cases: Sequence[Case],
    *,
    half: Half = "all",
    split_seed: int = 0,
    runtime: Runtime | None = None,
    batch_size: int = 32,
) -> Evaluation:
    """Evaluate the classifier in ``directory`` on the labelled messages of ``cases``.

    Args:
        half: every case, or one half of the case-level split with ``split_seed`` (``test``
            with the training seed reproduces the held-out figures in ``abkit_model.json``).

    Raises:
        CorpusError: no labelled examples, or a template id the model does not know (naming
            the case and message).
        ValueError / FileNotFoundError: a serving directory that is incomplete or inconsistent.
    """
    metadata = check_serving_dir(directory)
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        pad = ensure_pad_token(tokenizer)
        model = AutoModelForSequenceClassification.from_pretrained(directory, local_files_only=True)
    except (OSError, RuntimeError, ValueError) as error:  # what check_serving_dir cannot see
        raise ValueError(f"{directory}: cannot load the model ({str(error).splitlines()[0]})") from None
    label_map = LabelMap.from_id2label(model.config.id2label)
    majority = None
    if half == "all":
        examples = labelled_examples(cases)
    else:
        split = split_cases(cases, seed=split_seed)
        train_examples, test_examples = labelled_examples(split.train), labelled_examples(split.test)
        examples = test_examples if half == "test" else train_examples
        if train_examples and examples:
            known = label_map.label2id
            train_labels = [known[e.template_id] for e in train_examples if e.template_id in known]
            test_labels = [known[e.template_id] for e in examples if e.template_id in known]
            majority = majority_baseline(train_labels, test_labels, len(label_map)) if test_labels else None
    if not examples:
        raise CorpusError("no labelled examples to evaluate (advocate messages with a template_id)")
    data = encode_examples(examples, tokenizer, label_map, max_tokens=metadata.max_tokens)
    metrics = evaluate_classifier(model, data, pad, runtime=runtime, batch_size=batch_size)
    return Evaluation(metadata.model_version, metrics, majority)
