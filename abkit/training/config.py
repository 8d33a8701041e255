"""Training configurations: one TOML file per model size, read into frozen dataclasses.

The shipped sizes live in the package ``abkit.training.configs`` (``tiny``, ``pythia-410m``,
``pythia-1.4b``, ``pythia-2.8b``) and are read with ``importlib.resources``, so they are found
after ``pip install`` too; ``models/*.toml`` in the repository point at the same files. A path
to any TOML file of the same shape works as well.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

CONFIG_PACKAGE = "abkit.training.configs"


class ConfigError(ValueError):
    """A training configuration that cannot be used, naming the file and the key."""


@dataclass(frozen=True)
class TinyModelSettings:
    """Shape of the random-init GPT-NeoX (and its tokenizer) when no base model is given."""

    vocab_size: int = 1024
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4


@dataclass(frozen=True)
class AdaptSettings:
    """Phase 1, causal-LM domain adaptation."""

    context_length: int = 2048  # packed sequence length in tokens
    learning_rate: float = 3e-4  # peak, reached after warmup
    batch_size: int = 8  # sequences per micro-batch (split across processes under accelerate)
    gradient_accumulation_steps: int = 1
    epochs: int = 1
    max_steps: int = 0  # 0: run ``epochs`` over the packed corpus
    warmup_fraction: float = 0.01  # linear warmup over this share of steps, then cosine to zero
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.95
    max_grad_norm: float = 1.0
    checkpoint_every: int = 500  # optimizer steps between checkpoints
    first_checkpoint: int = 0  # step of the first checkpoint after step 0 (0: checkpoint_every)
    log_every: int = 10  # optimizer steps between reading the training loss back from the device
    heldout_fraction: float = 0.01  # share of cases held out for the LM loss
    seed: int = 0

    def checkpoint_due(self, step: int, total_steps: int) -> bool:
        """Whether optimizer step ``step`` (>= 1) writes a checkpoint: the first, every
        ``checkpoint_every`` after it, and the last step."""
        first = self.first_checkpoint or self.checkpoint_every
        return step == total_steps or (step >= first and (step - first) % self.checkpoint_every == 0)


@dataclass(frozen=True)
class FinetuneSettings:
    """Phase 2, discriminative fine-tuning of a new linear head (and the whole network)."""

    max_tokens: int = 512  # classifier input window
    learning_rate: float = 2e-5
    batch_size: int = 32
    epochs: int = 1
    warmup_fraction: float = 0.01
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    log_every: int = 10  # optimizer steps between reading the training loss back from the device
    seed: int = 0


@dataclass(frozen=True)
class EncoderSettings:
    """The BERT-style baseline: random init, same tokenizer and window, several epochs."""

    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    learning_rate: float = 1e-3
    batch_size: int = 16
    epochs: int = 4
    weight_decay: float = 0.01
    seed: int = 0


@dataclass(frozen=True)
class SizeConfig:
    """Everything one model size needs for both phases."""

    name: str
    base_model: str = ""  # local checkpoint directory; empty: the random-init tiny model
    tiny_model: TinyModelSettings = TinyModelSettings()
    adapt: AdaptSettings = AdaptSettings()
    finetune: FinetuneSettings = FinetuneSettings()
    encoder: EncoderSettings = EncoderSettings()


# Ranges checked where a config is read: (lowest, highest, whether each bound is excluded). A key
# not listed only has to be a finite number that is not negative.
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    **{
        key: (1, math.inf, False, True)
        for key in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "batch_size",
            "gradient_accumulation_steps",
            "epochs",
            "checkpoint_every",
            "max_tokens",
        )
    },
    "context_length": (2, math.inf, False, True),  # a next-token target needs two positions
    "learning_rate": (0, math.inf, True, True),
    "warmup_fraction": (0, 1, False, False),
    "heldout_fraction": (0, 1, True, True),
    "beta1": (0, 1, False, True),
    "beta2": (0, 1, False, True),
}

_SECTIONS = {
    "tiny_model": TinyModelSettings,
    "adapt": AdaptSettings,
    "finetune": FinetuneSettings,
    "encoder": EncoderSettings,
}


def available_sizes() -> list[str]:
    """Names of the configurations shipped with abkit (``tiny``, ``pythia-410m``...)."""
    files = resources.files(CONFIG_PACKAGE).iterdir()
    return sorted(entry.name.removesuffix(".toml") for entry in files if entry.name.endswith(".toml"))


def load_size_config(name_or_path: str | Path) -> SizeConfig:
    """Load a shipped size by name (``tiny``) or any TOML file by path.

    Raises:
        ConfigError: unknown size, unreadable TOML, unknown key or wrongly typed value.
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        where = str(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise ConfigError(f"{where}: cannot read ({error.strerror})") from None
    else:
        where = f"{name_or_path}.toml"
        resource = resources.files(CONFIG_PACKAGE).joinpath(where)
        if not resource.is_file():
            raise ConfigError(f"unknown model size {name_or_path!r}; shipped sizes: {', '.join(available_sizes())}")
        text = resource.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: invalid TOML ({error})") from None
    return parse_size_config(data, where=where)


def parse_size_config(data: dict[str, Any], *, where: str = "config") -> SizeConfig:
    """Validate a parsed TOML document into a :class:`SizeConfig`."""
    known = {"name", "base_model", *_SECTIONS}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; expected {sorted(known)}")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise ConfigError(f"{where}: name: missing or not a string")
    base_model = data.get("base_model", "")
    if not isinstance(base_model, str):
        raise ConfigError(f"{where}: base_model: must be a string (a local directory)")
    sections = {key: _parse_section(data.get(key, {}), cls, f"{where}: [{key}]") for key, cls in _SECTIONS.items()}
    return SizeConfig(name=data["name"], base_model=base_model, **sections)


def _parse_section(raw: Any, cls: type, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    types = {f.name: f.type for f in fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in types:
            raise ConfigError(f"{where}.{key}: unknown key; expected one of {sorted(types)}")
        expected = float if types[key] == "float" else int
        # TOML writes 3 for 3.0: ints are fine where floats are expected, never bools.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (expected is int and isinstance(value, float))
        ):
            raise ConfigError(f"{where}.{key}: expected {expected.__name__}, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}.{key}: must be a finite number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where}.{key}: must not be negative, got {value!r}")
        low, high, low_open, high_open = _RANGES.get(key, (0, math.inf, False, True))
        if value < low or value > high or (low_open and value == low) or (high_open and value == high):
            wanted = f"{'more than' if low_open else 'at least'} {low:g}"
            if high != math.inf:
                wanted += f" and {'below' if high_open else 'at most'} {high:g}"
            raise ConfigError(f"{where}.{key}: must be {wanted}, got {value!r}")
        values[key] = expected(value)
    section = cls(**values)
    hidden, heads = getattr(section, "hidden_size", 0), getattr(section, "num_attention_heads", 1)
    if hidden % heads:
        raise ConfigError(f"{where}: hidden_size {hidden} is not divisible by num_attention_heads {heads}")
    return section
