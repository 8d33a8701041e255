"""Experiment definitions: the TOML file ops staff edit, and every way it can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from abkit.assignment.config import (
    ConfigError,
    ExperimentConfig,
    check_holdout_weight,
    load_experiments,
    parse_experiments,
    standing_experiment,
)

REPO_EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiments.toml"
    path.write_text(text)
    return path


def test_repository_example_file_loads():
    experiments = load_experiments(REPO_EXPERIMENTS)
    assert experiments["standing"].arms == (("holdout", 0.02), ("v4", 0.98))
    assert experiments["v5-challenger"].arm_names == ("holdout", "v4", "v5")
    assert experiments["v5-challenger"].holdout_weight == 0.02


def test_arms_keep_the_written_order(tmp_path):
    path = _write(tmp_path, '[experiments.x]\nsalt = "s"\narms = { holdout = 0.1, b = 0.3, a = 0.6 }\n')
    config = load_experiments(path)["x"]
    assert config.arm_names == ("holdout", "b", "a")
    assert config.weights() == {"holdout": 0.1, "b": 0.3, "a": 0.6}


def test_standing_experiment_matches_the_file_and_assigns_alike():
    standing = standing_experiment("v4")
    assert standing == load_experiments(REPO_EXPERIMENTS)["standing"]
    assert standing_experiment("v1", holdout_weight=0.05).arms == (("holdout", 0.05), ("v1", 0.95))
    units = [(f"adv-{i}", f"case-{i}") for i in range(300)]
    assert standing.assign_many([a for a, _ in units], [c for _, c in units]) == [
        standing.assign(a, c) for a, c in units
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[experiments.x]\nsalt = "s"\narms = { holdout = 0.02, v1 = 0.97 }\n', "arm weights sum to 0.99, not 1"),
        (
            '[experiments.x]\nsalt = "s"\narms = { v1 = 0.98, holdout = 0.02 }\n',
            "the holdout arm must come first (found 'v1' first)",
        ),
        ('[experiments.x]\nsalt = ""\narms = { holdout = 0.02, v1 = 0.98 }\n', "experiment 'x': empty salt"),
        ("[experiments.x]\narms = { holdout = 0.02, v1 = 0.98 }\n", "experiment 'x': empty salt"),
        ('[experiments.x]\nsalt = "s"\narms = { holdout = 1.0 }\n', "needs at least two arms"),
        (
            '[experiments.x]\nsalt = "s"\narms = { holdout = 0.02, v1 = "0.98" }\n',
            "weight of arm 'v1' must be a number",
        ),
        (
            '[experiments.x]\nsalt = "s"\narms = { holdout = 0, v1 = 1 }\n',
            "weight of arm 'holdout' must be a number in (0, 1]",
        ),
        ('[experiments.x]\nsalt = "s"\narms = { holdout = 0.02, v1 = true }\n', "weight of arm 'v1'"),
        ('[experiments.x]\nsalt = "s"\narms = ["holdout", "v1"]\n', "arms must be a table"),
        (
            '[experiments.x]\nsalt = "s"\nweights = 1\narms = { holdout = 0.02, v1 = 0.98 }\n',
            "unknown keys ['weights']",
        ),
        ("[experiments]\n", "no [experiments.NAME] tables found"),
        ('title = "x"\n', "no [experiments.NAME] tables found"),
        ("[experiments]\nx = 3\n", "experiments.x must be a table"),
        ('[experiments.x]\nsalt = "s"\narms = { holdout = 0.02, v1 = 0.98, v1 = 0.0 }\n', "not valid TOML"),
        ('[experiments.x\nsalt = "s"\n', "not valid TOML"),
    ],
)
def test_invalid_files_give_a_clear_error_naming_the_file(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_experiments(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_duplicate_arm_names_in_code():
    with pytest.raises(ConfigError, match=r"duplicate arm names \['v1'\]"):
        ExperimentConfig("x", "s", (("holdout", 0.02), ("v1", 0.49), ("v1", 0.49)))


@pytest.mark.parametrize(
    ("name", "salt", "arms", "message"),
    [
        ("", "s", (("holdout", 0.5), ("v1", 0.5)), "empty name"),
        ("x" * 65, "s", (("holdout", 0.5), ("v1", 0.5)), "name longer than 64"),
        ("x", "   ", (("holdout", 0.5), ("v1", 0.5)), "empty salt"),
        ("x", "a\x1fb", (("holdout", 0.5), ("v1", 0.5)), "salt must not contain"),
        # a lone surrogate has no UTF-8 form to hash: refused when built, not at the first assignment
        ("x", "a\udcffb", (("holdout", 0.5), ("v1", 0.5)), "salt is not valid UTF-8"),
        ("x", "s", (("holdout", 0.5), ("", 0.5)), "arm names must be non-empty strings"),
        ("x", "s", (("holdout", 0.5), ("v" * 65, 0.5)), "longer than 64"),
        ("x", "s", (("holdout", 0.6), ("v1", 0.6)), "sum to 1.2, not 1"),
    ],
)
def test_invalid_configs_in_code(name, salt, arms, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ExperimentConfig(name, salt, arms)


def test_weights_summing_to_one_as_decimals_are_accepted():
    # 0.1 + 0.2 + 0.7 is 0.9999999999999999 in floats but exactly 1 as decimals.
    ExperimentConfig("x", "s", (("holdout", 0.1), ("a", 0.2), ("b", 0.7)))
    ExperimentConfig("x", "s", (("holdout", 0.02), ("a", 0.49), ("b", 0.49)))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError, match="experiments file not found"):
        load_experiments(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="cannot read the experiments file"):
        load_experiments(tmp_path)


def test_parse_experiments_names_its_source():
    with pytest.raises(ConfigError, match="^inline: experiment 'x': empty salt"):
        parse_experiments({"experiments": {"x": {"arms": {"holdout": 0.5, "v1": 0.5}}}}, source="inline")


def test_analysis_is_declared_or_follows_the_kind_of_test(tmp_path):
    path = tmp_path / "experiments.toml"
    path.write_text(
        '[experiments.standing]\nsalt = "s"\narms = { holdout = 0.02, v4 = 0.98 }\n'
        '[experiments.challenger]\nsalt = "c"\narms = { holdout = 0.02, v4 = 0.49, v5 = 0.49 }\n'
        '[experiments.watched]\nsalt = "w"\narms = { holdout = 0.02, v4 = 0.98 }\nanalysis = "sequential"\n'
        '[experiments.once]\nsalt = "o"\narms = { holdout = 0.02, v4 = 0.49, v5 = 0.49 }\nanalysis = "fixed"\n'
    )
    loaded = load_experiments(path)
    assert {name: config.resolved_analysis for name, config in loaded.items()} == {
        "standing": "fixed",
        "challenger": "sequential",
        "watched": "sequential",
        "once": "fixed",
    }
    assert (loaded["standing"].analysis, loaded["watched"].analysis) == (None, "sequential")
    assert load_experiments("experiments.toml")["v5-challenger"].resolved_analysis == "sequential"


def test_unknown_analysis_is_refused_naming_the_experiment(tmp_path):
    path = tmp_path / "experiments.toml"
    path.write_text('[experiments.x]\nsalt = "s"\narms = { holdout = 0.5, v1 = 0.5 }\nanalysis = "bayesian"\n')
    with pytest.raises(ConfigError, match=r"experiment 'x': analysis must be one of \['sequential', 'fixed'\]"):
        load_experiments(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[experiments.x]\nsalt = 5\narms = { holdout = 0.5, v1 = 0.5 }\n", "experiment 'x': salt: Input should be"),
        (
            '[experiments.x]\nsalt = "s"\ndescription = 5\narms = { holdout = 0.5, v1 = 0.5 }\n',
            "experiment 'x': description: Input should be",
        ),
        ('[experiments.x]\nsalt = "s"\n', "experiment 'x': arms must be a table"),
        ('[experiments.x]\nsalt = "s"\nfoo = 1\nbar = 2\narms = { holdout = 0.5, v1 = 0.5 }\n', "['bar', 'foo']"),
    ],
)
def test_wrongly_typed_or_missing_values_name_the_field(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load_experiments(_write(tmp_path, text))
    assert message in str(caught.value)


def test_a_config_is_a_frozen_dataclass_that_validates_again_when_replaced():
    import dataclasses

    config = ExperimentConfig("x", "s", [["holdout", 0.5], ["v1", 1 / 2]])  # any sequence, made tuples
    assert config == ExperimentConfig(name="x", salt="s", arms=(("holdout", 0.5), ("v1", 0.5)))
    assert config.arms == (("holdout", 0.5), ("v1", 0.5)) and hash(config) == hash(dataclasses.replace(config))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.salt = "t"  # type: ignore[misc]
    with pytest.raises(ConfigError, match="experiment 'x': empty salt"):
        dataclasses.replace(config, salt=" ")
    assert config.assign("a", "c") in config.arm_names


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), float("-inf"), 0.0, 1.0, -0.1, 1.5])
def test_standing_experiment_refuses_a_holdout_weight_outside_0_1_naming_it(weight):
    # `abkit serve --holdout-weight nan` used to end in "Invalid literal for Fraction: 'nan'".
    # 1.0 is a weight in (0, 1] but leaves the served version nothing: that is said of the holdout too.
    with pytest.raises(
        ConfigError, match=r"^experiment 'standing': weight of arm 'holdout' must be a number in \(0, 1\)"
    ):
        standing_experiment("v4", holdout_weight=weight)
    with pytest.raises(ConfigError) as caught:
        check_holdout_weight(weight)
    assert caught.value.args == pytest.raises(ConfigError, standing_experiment, "v9", holdout_weight=weight).value.args


_NAME_PROBLEMS = [
    (" v4", "has leading or trailing whitespace"),
    ("v4\t", "has leading or trailing whitespace"),
    ("v4\u3000", "has leading or trailing whitespace"),
    (" ", "is blank"),
    ("v\x1f4", "contains the unit separator \\x1f"),
    ("v\x004", "contains a NUL character"),
    ("v\ufffd", "is not valid UTF-8"),
    ("v\ud8004", "is not valid UTF-8"),
]


@pytest.mark.parametrize(("arm", "problem"), _NAME_PROBLEMS)
def test_arm_name_that_events_would_not_match_is_refused_naming_it(arm, problem):
    # Events trim names (" v4" is stored as v4) and refuse NUL and U+FFFD; an arm named " v4"
    # would never match its own events.
    with pytest.raises(ConfigError) as caught:
        ExperimentConfig("x", "s", (("holdout", 0.5), (arm, 0.5)))
    assert str(caught.value).startswith(f"experiment 'x': arm {arm!r} {problem}")


@pytest.mark.parametrize(("name", "problem"), _NAME_PROBLEMS)
def test_experiment_name_that_events_would_not_match_is_refused_naming_it(name, problem):
    with pytest.raises(ConfigError) as caught:
        ExperimentConfig(name, "s", (("holdout", 0.5), ("v1", 0.5)))
    assert str(caught.value).startswith(f"experiment {name!r}: name {problem}")


def test_padded_names_in_the_file_are_refused_in_one_line(tmp_path):
    path = _write(tmp_path, '[experiments." standing"]\nsalt = "s"\narms = { holdout = 0.5, v4 = 0.5 }\n')
    with pytest.raises(ConfigError, match=r"^\S+: experiment ' standing': name has leading or trailing whitespace"):
        load_experiments(path)
    path = _write(tmp_path, '[experiments.standing]\nsalt = "s"\narms = { holdout = 0.5, " v4" = 0.5 }\n')
    with pytest.raises(ConfigError, match=r"experiment 'standing': arm ' v4' has leading or trailing whitespace"):
        load_experiments(path)
    path = _write(tmp_path, '[experiments.standing]\nsalt = "s"\narms = { holdout = 0.5, "v\\u001f4" = 0.5 }\n')
    with pytest.raises(ConfigError, match=r"experiment 'standing': arm 'v\\x1f4' contains the unit separator"):
        load_experiments(path)


def test_names_events_accept_are_accepted():
    # Inner spaces, case, Unicode and U+001C..U+001E are kept by the id rule, so events keep them too.
    config = ExperimentConfig("v5 challenger", "s", (("holdout", 0.5), ("Vé-5\x1c", 0.5)))
    assert config.arm_names == ("holdout", "Vé-5\x1c")
