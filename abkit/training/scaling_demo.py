"""The scaling demo: two random-init sizes adapted on one simulated corpus, every checkpoint fine-tuned.

It asks the two questions of the paper on data that fits a CPU: does domain adaptation lower
the classification loss against the same model not adapted (step 0), for every size? And is
classification loss linear in LM loss over each size's adapted checkpoints? The answers come
from :func:`abkit.training.scaling.analyse_scaling`, whatever they are.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from abkit.training.config import load_size_config
from abkit.training.corpus import parse_cases, split_cases, write_corpus
from abkit.training.optim import Runtime
from abkit.training.outputs import prepare_dir
from abkit.training.pipeline import load_base, run_adaptation
from abkit.training.scaling import ScalingAnalysis, analyse_scaling, run_scaling

DEMO_SIZES = ("scaling-xs", "scaling-s")
DEMO_CASES = 2000  # labelled: half fine-tunes, half evaluates (and the first half is adapted on too)
DEMO_ADAPT_CASES = 6000  # unlabelled transcripts beyond them, for adaptation only
DEMO_TEMPLATES = 40
DEMO_LANGUAGE = "rich"  # abkit.simulate.rich_language: an LM loss that keeps improving over the run
DEMO_FINETUNES = 2  # classifiers per checkpoint (fine-tuning seeds), averaged
LINEAR_BAR = 0.9  # issue 19's acceptance: R² of classification loss on LM loss, per size


@dataclass(frozen=True)
class ScalingDemoResult:
    """Where the demo wrote its corpus and runs, and the analysis of them."""

    corpus_file: Path
    runs: tuple[Path, ...]
    analysis: ScalingAnalysis

    def findings(self) -> list[str]:
        """The two findings in words, per size, from the analysis."""
        lines = []
        for effect in self.analysis.effects:
            verb = "lowers" if effect.delta < 0 else "does not lower"
            lines.append(
                f"{effect.run}: adaptation {verb} classification loss: {effect.start_cls_loss:.3f} (step 0, not "
                f"adapted) -> {effect.adapted_cls_loss:.3f} (step {effect.adapted_step})"
            )
        for run in self.analysis.runs:
            fit = self.analysis.fit("lm_loss", run)
            if fit is None:
                lines.append(f"{run}: no fit of classification loss on LM loss (see the notes)")
            else:
                bar = "meets" if fit.r2 >= LINEAR_BAR else "misses"
                caveat = (
                    "; but no checkpoint's classifier beats the majority baseline, so the line describes no learning"
                    if run in self.analysis.not_learned
                    else ""
                )
                lines.append(
                    f"{run}: classification loss on LM loss over {fit.n} adapted checkpoints: {fit.verdict} "
                    f"({bar} the {LINEAR_BAR} bar){caveat}"
                )
        return lines


def run_scaling_demo(
    out_dir: str | Path,
    *,
    sizes: Sequence[str] = DEMO_SIZES,
    seed: int = 0,
    n_cases: int = DEMO_CASES,
    n_templates: int = DEMO_TEMPLATES,
    adapt_cases: int = DEMO_ADAPT_CASES,
    language: str = DEMO_LANGUAGE,
    finetunes: int = DEMO_FINETUNES,
    runtime: Runtime | None = None,
    progress: bool = True,
) -> ScalingDemoResult:
    """Simulate a corpus, adapt each size from a random init, fine-tune every checkpoint, fit.

    Args:
        out_dir: gets ``corpus.jsonl`` (the labelled cases), ``adapt_corpus.jsonl`` (the
            adaptation-only cases) and one adaptation run directory per size.
        sizes: size configs (names or TOML paths); each its own run, fitted on its own.
        seed: seeds the corpus, the split and the initialisations.
        n_cases: labelled cases, split in halves: fine-tuning (and adaptation), evaluation.
        adapt_cases: more simulated cases that only adaptation reads (unlabelled transcripts
            are plentiful; the evaluation half is never adapted on).
        language: the simulated wording (``abkit.simulate.rich_language``).
        finetunes: classifiers fine-tuned per checkpoint (seeds 0, 1, ...); each point is their mean.
    """
    from abkit.simulate.transcripts import generate_transcripts

    if adapt_cases < 0:
        raise ValueError(f"adapt_cases: must be >= 0, got {adapt_cases}")
    out = Path(out_dir)
    prepare_dir(out)
    records = generate_transcripts(seed, n_cases + adapt_cases, n_templates=n_templates, language=language)
    corpus_file = out / "corpus.jsonl"
    write_corpus(corpus_file, records[:n_cases])
    cases = parse_cases(records[:n_cases], source=str(corpus_file))
    adapt_only = []
    if adapt_cases:
        write_corpus(out / "adapt_corpus.jsonl", records[n_cases:])
        adapt_only = parse_cases(records[n_cases:], source=str(out / "adapt_corpus.jsonl"))
    train_half = split_cases(cases, seed=seed).train
    configs = [load_size_config(size) for size in sizes]
    runs, points = [], []
    for config in configs:
        run_dir = out / config.name
        if run_dir.exists():
            shutil.rmtree(run_dir)
        model, tokenizer, _ = load_base(config, train_half, seed=seed)
        # The training half and the adaptation-only cases (split_seed=None: these are all adaptable).
        run_adaptation(
            model,
            tokenizer,
            [*train_half, *adapt_only],
            config,
            run_dir,
            split_seed=None,
            runtime=runtime,
            progress=progress,
        )
        runs.append(run_dir)
        # Each size is fine-tuned with its own config's fine-tuning settings.
        points += run_scaling(
            [run_dir], cases, config, split_seed=seed, finetunes=finetunes, runtime=runtime, progress=progress
        )
    return ScalingDemoResult(corpus_file, tuple(runs), analyse_scaling(points))
