from __future__ import annotations

import pytest

from abkit.training.config import AdaptSettings, ConfigError, available_sizes, load_size_config


def test_every_shipped_size_loads_with_the_pythia_learning_rates():
    assert available_sizes() == ["pythia-1.4b", "pythia-2.8b", "pythia-410m", "scaling-s", "scaling-xs", "tiny"]
    # Peak learning rates from the Pythia paper (Biderman et al. 2023, table 1).
    expected = {"pythia-410m": 3.0e-4, "pythia-1.4b": 2.0e-4, "pythia-2.8b": 1.6e-4}
    for size, learning_rate in expected.items():
        config = load_size_config(size)
        assert config.name == size
        assert config.adapt.learning_rate == learning_rate
        assert config.adapt.context_length == 2048
        assert (config.adapt.beta1, config.adapt.beta2, config.adapt.weight_decay) == (0.9, 0.95, 0.01)
        assert config.adapt.warmup_fraction == 0.01
        assert config.finetune.max_tokens == 512 and config.finetune.epochs == 1
    tiny = load_size_config("tiny")
    assert tiny.base_model == "" and tiny.tiny_model.hidden_size > 0


def test_a_path_to_a_toml_file_loads(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n[adapt]\nlearning_rate = 1\nepochs = 3\n')
    config = load_size_config(path)
    assert config.adapt.learning_rate == 1.0 and isinstance(config.adapt.learning_rate, float)
    assert config.adapt.epochs == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n[adapt]\nlearnig_rate = 1e-3\n', "[adapt].learnig_rate: unknown key"),
        ('name = "x"\n[adapt]\nepochs = 1.5\n', "[adapt].epochs: expected int"),
        ('name = "x"\n[adapt]\nepochs = true\n', "[adapt].epochs: expected int"),
        ('name = "x"\n[finetune]\nlearning_rate = -1.0\n', "[finetune].learning_rate: must not be negative"),
        ('name = "x"\n[finetune]\nlearning_rate = nan\n', "[finetune].learning_rate: must be a finite number"),
        ('name = "x"\n[adapt]\nlearning_rate = inf\n', "[adapt].learning_rate: must be a finite number"),
        ('name = "x"\n[adapt]\nmax_grad_norm = nan\n', "[adapt].max_grad_norm: must be a finite number"),
        ('name = "x"\n[finetune]\nepochs = 0\n', "[finetune].epochs: must be at least 1, got 0"),
        ('name = "x"\n[adapt]\ncheckpoint_every = 0\n', "[adapt].checkpoint_every: must be at least 1"),
        ('name = "x"\n[adapt]\ngradient_accumulation_steps = 0\n', "gradient_accumulation_steps: must be at least 1"),
        ('name = "x"\n[adapt]\ncontext_length = 1\n', "[adapt].context_length: must be at least 2"),
        ('name = "x"\n[adapt]\nlearning_rate = 0\n', "[adapt].learning_rate: must be more than 0"),
        ('name = "x"\n[adapt]\nheldout_fraction = 1\n', "heldout_fraction: must be more than 0 and below 1"),
        ('name = "x"\n[finetune]\nwarmup_fraction = 2.0\n', "warmup_fraction: must be at least 0 and at most 1"),
        ('name = "x"\n[adapt]\nbeta2 = 1.0\n', "[adapt].beta2: must be at least 0 and below 1"),
        ('name = "x"\n[tiny_model]\nhidden_size = 0\n', "[tiny_model].hidden_size: must be at least 1"),
        (
            'name = "x"\n[encoder]\nhidden_size = 32\nnum_attention_heads = 3\n',
            "[encoder]: hidden_size 32 is not divisible by num_attention_heads 3",
        ),
        ('name = "x"\nextra = 1\n', "unknown keys ['extra']"),
        ("[adapt]\n", "name: missing"),
        ('name = "x"\n[adapt\n', "invalid TOML"),
    ],
)
def test_bad_configs_name_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"bad\.toml") as error:
        load_size_config(path)
    assert message in str(error.value)


def test_unknown_size_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="unknown model size 'pythia-99b'.*tiny"):
        load_size_config("pythia-99b")


def test_the_multi_gpu_examples_are_accelerate_configs_that_agree_with_the_sizes():
    from pathlib import Path

    from accelerate.commands.config.config_args import load_config_from_file

    folder = Path(__file__).resolve().parents[1] / "models" / "accelerate"
    fsdp = load_config_from_file(str(folder / "fsdp-pythia.yaml"))
    assert fsdp.distributed_type == "FSDP" and fsdp.mixed_precision == "bf16"
    assert fsdp.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "GPTNeoXLayer"
    zero = load_config_from_file(str(folder / "deepspeed-zero2.yaml"))
    assert zero.distributed_type == "DEEPSPEED" and zero.deepspeed_config["zero_stage"] == 2
    for size in ("pythia-1.4b", "pythia-2.8b"):
        adapt = load_size_config(size).adapt
        # DeepSpeed takes accumulation and clipping from its own file: they must match the size config.
        assert zero.deepspeed_config["gradient_accumulation_steps"] == adapt.gradient_accumulation_steps
        assert zero.deepspeed_config["gradient_clipping"] == adapt.max_grad_norm
        assert adapt.batch_size >= fsdp.num_processes == zero.num_processes  # a row per GPU per micro-batch


def test_checkpoint_schedule_first_checkpoint_then_every_n_then_the_last_step():
    every = AdaptSettings(checkpoint_every=4)
    assert [s for s in range(1, 11) if every.checkpoint_due(s, 10)] == [4, 8, 10]
    later = AdaptSettings(checkpoint_every=4, first_checkpoint=6)
    assert [s for s in range(1, 16) if later.checkpoint_due(s, 15)] == [6, 10, 14, 15]
