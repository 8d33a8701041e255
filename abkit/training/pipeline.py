"""The two phases end to end: base model, adaptation, fine-tuning, serving directory.

Both phases see the same case-level split (seeded): adaptation reads only the training
half's transcripts (the other half's advocate replies would otherwise leak the labels into
the language model), fine-tuning trains on that half and is evaluated on the other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from transformers import AutoModelForCausalLM, AutoTokenizer

from abkit.text.transcript import format_for_adaptation
from abkit.training.accel import is_main_process
from abkit.training.adapt import CHECKPOINT_INFO, AdaptResult, adapt
from abkit.training.config import SizeConfig
from abkit.training.corpus import Case, CorpusError, labelled_examples, split_cases
from abkit.training.encoder import EncoderBaseline, train_encoder_baseline
from abkit.training.examples import LabelMap, encode_examples
from abkit.training.finetune import (
    FinetuneResult,
    LoopSettings,
    classifier_from_pretrained,
    ensure_pad_token,
    evaluate_classifier,
    train_classifier,
)
from abkit.training.metrics import ClassificationMetrics, majority_baseline
from abkit.training.optim import Runtime
from abkit.training.packing import PackedCorpus, pack_documents
from abkit.training.serving_dir import ServingMetadata, check_model_dir, save_serving_dir
from abkit.training.tiny import build_random_causal_lm, train_bpe_tokenizer

TINY_BASE = "random-init tiny GPT-NeoX"


def documents(cases: Sequence[Case]) -> list[str]:
    """Adaptation documents: one speaker-tagged transcript per case."""
    return [format_for_adaptation(case.messages) for case in cases]


def load_base(
    config: SizeConfig, cases: Sequence[Case], *, base_model: str | None = None, seed: int = 0
) -> tuple[Any, Any, str]:
    """The starting causal LM and tokenizer, and a name for it.

    A local directory (``base_model`` or the config's) is loaded offline; without one, a
    byte-level BPE tokenizer is trained on ``cases`` and a tiny GPT-NeoX initialised at random.

    Raises:
        FileNotFoundError: the base model directory does not exist.
    """
    source = base_model or config.base_model
    if source:
        if not Path(source).is_dir():
            raise FileNotFoundError(f"base model {source!r}: not a local directory (nothing is downloaded)")
        check_model_dir(source)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        base: Any = AutoModelForCausalLM.from_pretrained(source, local_files_only=True)
        return base, tokenizer, str(source)
    tiny = config.tiny_model
    tokenizer = train_bpe_tokenizer(documents(cases), vocab_size=tiny.vocab_size)
    model = build_random_causal_lm(
        tokenizer,
        hidden_size=tiny.hidden_size,
        num_hidden_layers=tiny.num_hidden_layers,
        num_attention_heads=tiny.num_attention_heads,
        max_position_embeddings=max(config.adapt.context_length, config.finetune.max_tokens),
        seed=seed,
    )
    return model, tokenizer, TINY_BASE


def pack_cases(cases: Sequence[Case], tokenizer: Any, context_length: int) -> PackedCorpus:
    """Tokenise the transcripts and pack them into full ``context_length`` sequences."""
    ids = tokenizer(documents(cases), add_special_tokens=False)["input_ids"]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return pack_documents(ids, context_length=context_length, eos_token_id=tokenizer.eos_token_id, pad_token_id=pad)


def run_adaptation(
    model: Any,
    tokenizer: Any,
    cases: Sequence[Case],
    config: SizeConfig,
    out_dir: str | Path,
    *,
    split_seed: int | None = 0,
    resume_from: str | Path | None = None,
    runtime: Runtime | None = None,
    progress: bool = True,
) -> AdaptResult:
    """Hold out a share of the cases for the LM loss, pack both parts and adapt.

    Args:
        split_seed: adapt only on the training half of the fine-tuning split with this seed
            (so the evaluation half stays unseen); ``None`` adapts on every case.
    """
    settings = config.adapt
    if split_seed is not None:
        cases = split_cases(cases, seed=split_seed).train
    # A different seeded split: the held-out LM-loss cases come out of the training half.
    split = split_cases(cases, seed=settings.seed, test_fraction=settings.heldout_fraction)
    train = pack_cases(split.train, tokenizer, settings.context_length)
    heldout = pack_cases(split.test, tokenizer, settings.context_length)
    return adapt(
        model, tokenizer, train, heldout, settings, out_dir, runtime=runtime, resume_from=resume_from, progress=progress
    )


@dataclass(frozen=True)
class FinetuneReport:
    """Held-out figures of a fine-tuned classifier beside its baselines."""

    metrics: ClassificationMetrics
    majority: ClassificationMetrics
    encoder: EncoderBaseline | None
    training: FinetuneResult
    label_map: LabelMap
    train_cases: int
    test_cases: int
    train_examples: int
    parameters: int
    training_tokens: int
    training_flops: float

    def table_rows(self) -> list[tuple[str, ClassificationMetrics]]:
        rows = [("classifier", self.metrics), ("majority baseline", self.majority)]
        if self.encoder is not None:
            rows.append((f"encoder baseline (best epoch {self.encoder.training.best_epoch})", self.encoder.metrics))
        return rows


def adaptation_record(source: str | Path) -> dict[str, Any]:
    """Steps, tokens and held-out LM loss of an adaptation checkpoint (empty for other models)."""
    path = Path(source, CHECKPOINT_INFO)
    return json.loads(path.read_text()) if path.is_file() else {}


def run_finetune(
    source: str | Path,
    cases: Sequence[Case],
    config: SizeConfig,
    out_dir: str | Path | None,
    *,
    model_version: str = "v1",
    base_model: str | None = None,
    split_seed: int = 0,
    with_encoder: bool = True,
    runtime: Runtime | None = None,
    progress: bool = True,
) -> FinetuneReport:
    """Fine-tune the causal LM in ``source`` as a template classifier and evaluate it.

    The label map holds every template id in the corpus (the template catalogue), in sorted
    order. When ``out_dir`` is given, the serving directory is written there. Under
    ``accelerate launch`` the processes share the training, each evaluates the held-out half,
    and the first writes the serving directory.
    """
    runtime = runtime or Runtime.detect()
    settings = config.finetune
    split = split_cases(cases, seed=split_seed)
    train_examples, test_examples = labelled_examples(split.train), labelled_examples(split.test)
    if not train_examples or not test_examples:
        raise CorpusError(
            f"need labelled examples in both halves of the split; got {len(train_examples)} and {len(test_examples)}"
        )
    label_map = LabelMap.from_examples([*train_examples, *test_examples])
    if len(label_map) < 2:
        # one class: every prediction is right by construction, and the figures would say 100%
        raise CorpusError(
            f"need at least 2 templates to choose between; the corpus labels only {label_map.template_ids}"
        )
    check_model_dir(source)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    pad = ensure_pad_token(tokenizer)
    train = encode_examples(train_examples, tokenizer, label_map, max_tokens=settings.max_tokens)
    test = encode_examples(test_examples, tokenizer, label_map, max_tokens=settings.max_tokens)
    model = classifier_from_pretrained(source, label_map, pad, seed=settings.seed)
    training = train_classifier(
        model, train, pad, LoopSettings.from_finetune(settings), runtime=runtime, progress=progress
    )
    metrics = evaluate_classifier(model, test, pad, runtime=runtime, batch_size=settings.batch_size)
    majority = majority_baseline(train.labels, test.labels, len(label_map))
    encoder = (
        train_encoder_baseline(
            tokenizer,
            train_examples,
            test_examples,
            label_map,
            config.encoder,
            max_tokens=settings.max_tokens,
            runtime=runtime,
            progress=progress,
        )
        if with_encoder
        else None
    )
    parameters = sum(p.numel() for p in model.parameters())
    adapted = adaptation_record(source)
    adapt_tokens = int(adapted.get("tokens", 0))
    # 6 * N * D (Kaplan et al. 2020) over the tokens of both phases of this pipeline;
    # the base model's own pretraining is not counted.
    flops = 6.0 * adapted.get("parameters", parameters) * adapt_tokens + 6.0 * parameters * training.tokens_seen
    report = FinetuneReport(
        metrics=metrics,
        majority=majority,
        encoder=encoder,
        training=training,
        label_map=label_map,
        train_cases=len(split.train),
        test_cases=len(split.test),
        train_examples=len(train),
        parameters=parameters,
        training_tokens=adapt_tokens + training.tokens_seen,
        training_flops=flops,
    )
    if out_dir is not None and is_main_process():  # under accelerate launch, one process writes
        write_serving_dir(
            out_dir,
            model,
            tokenizer,
            report,
            model_version=model_version,
            base_model=base_model or str(source),
            adapted=adapted,
            split_seed=split_seed,
            max_tokens=settings.max_tokens,
        )
    return report


def eval_metrics_dict(report: FinetuneReport) -> dict[str, float]:
    """Flat held-out figures for ``ServingMetadata.eval_metrics``."""
    figures = {**report.metrics.to_dict(), **report.majority.to_dict("majority_")}
    if report.encoder is not None:
        figures.update(report.encoder.metrics.to_dict("encoder_"))
        figures["encoder_best_epoch"] = float(report.encoder.training.best_epoch)
    return figures


def write_serving_dir(
    out_dir: str | Path,
    model: Any,
    tokenizer: Any,
    report: FinetuneReport,
    *,
    model_version: str,
    base_model: str,
    adapted: dict[str, Any],
    split_seed: int,
    max_tokens: int,
) -> Path:
    """Save weights, tokenizer (config.id2label is the label map) and ``abkit_model.json``."""
    return save_serving_dir(
        out_dir,
        model,
        tokenizer,
        ServingMetadata(
            model_version=model_version,
            base_model=base_model,
            architecture=str(model.config.model_type),
            max_tokens=max_tokens,
            training_tokens=report.training_tokens,
            training_flops=report.training_flops,
            parameters=report.parameters,
            eval_metrics=eval_metrics_dict(report),
            extra={
                "split_seed": split_seed,
                "train_cases": report.train_cases,
                "test_cases": report.test_cases,
                "train_examples": report.train_examples,
                "num_labels": len(report.label_map),
                "adaptation": adapted,
                "finetune_tokens": report.training.tokens_seen,
                "finetune_curve_last": report.training.curve[-1] if report.training.curve else None,
                "encoder_parameters": report.encoder.parameters if report.encoder else None,
                "encoder_epoch_metrics": [asdict(m) for m in report.encoder.training.epoch_metrics]
                if report.encoder
                else [],
            },
        ),
    )
