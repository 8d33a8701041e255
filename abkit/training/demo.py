"""The demo model: the simulator's transcripts through both phases into a serving directory."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from abkit.training.adapt import AdaptResult
from abkit.training.config import SizeConfig, load_size_config
from abkit.training.corpus import parse_cases, split_cases, write_corpus
from abkit.training.optim import Runtime
from abkit.training.outputs import prepare_dir
from abkit.training.pipeline import FinetuneReport, load_base, run_adaptation, run_finetune
from abkit.training.serving_dir import check_serving_out

DEMO_CASES = 2000
DEMO_TEMPLATES = 40


@dataclass(frozen=True)
class DemoResult:
    """Where the demo model went and how it did."""

    serving_dir: Path
    corpus_file: Path
    adaptation: AdaptResult
    report: FinetuneReport


def build_demo_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    model_version: str = "v1",
    n_cases: int = DEMO_CASES,
    n_templates: int = DEMO_TEMPLATES,
    config: SizeConfig | None = None,
    work_dir: str | Path | None = None,
    with_encoder: bool = True,
    runtime: Runtime | None = None,
    progress: bool = True,
) -> DemoResult:
    """Simulate transcripts, train a tokenizer and a tiny GPT-NeoX, adapt, fine-tune, save.

    Args:
        out_dir: the serving directory to write.
        seed: seeds the simulated corpus, the split and the model initialisation.
        n_cases, n_templates: corpus size and label-set size.
        config: training configuration (the ``tiny`` size by default).
        work_dir: where the corpus and adaptation checkpoints go (``<out_dir>.work`` by default).
    """
    from abkit.simulate.transcripts import generate_transcripts

    config = config or load_size_config("tiny")
    out = Path(out_dir)
    work = Path(work_dir) if work_dir is not None else out.with_name(out.name + ".work")
    check_serving_out(out)
    prepare_dir(work, "work directory")
    records = generate_transcripts(seed, n_cases, n_templates=n_templates)
    corpus_file = work / "corpus.jsonl"
    write_corpus(corpus_file, records)
    cases = parse_cases(records, source=str(corpus_file))
    model, tokenizer, _ = load_base(config, split_cases(cases, seed=seed).train, seed=seed)
    adapt_dir = work / "adapt"
    if adapt_dir.exists():
        shutil.rmtree(adapt_dir)
    adaptation = run_adaptation(
        model, tokenizer, cases, config, adapt_dir, split_seed=seed, runtime=runtime, progress=progress
    )
    report = run_finetune(
        adaptation.final.path,
        cases,
        config,
        out,
        model_version=model_version,
        base_model=f"random-init tiny GPT-NeoX (seed {seed}), adapted {adaptation.total_steps} steps",
        split_seed=seed,
        with_encoder=with_encoder,
        runtime=runtime,
        progress=progress,
    )
    return DemoResult(out, corpus_file, adaptation, report)
