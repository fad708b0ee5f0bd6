"""Config loading: typed fields, --set overrides, and errors that name the key path."""

from __future__ import annotations

import pytest

from feedback_loop.config import Config, ConfigError, load_config


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_example_configs_load():
    config = load_config("examples/gaussian_mixture.yaml")
    assert config.policy.name == "optuna" and config.learner.samples == 1000


def test_defaults_without_a_file():
    assert load_config(None) == Config()


def test_set_overrides_are_typed(tmp_path):
    config = load_config(write(tmp_path, "name: x\n"), ["budget.evaluations=7", "learner.lr=0.01",
                                                        "budget.seconds=null", "policy.sampler=cmaes"])
    assert config.budget.evaluations == 7 and config.learner.lr == 0.01 and config.policy.sampler == "cmaes"


def test_int_accepted_where_float_expected(tmp_path):
    assert load_config(write(tmp_path, "learner:\n  lr: 1\n")).learner.lr == 1.0


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("learner:\n  epoch: 3\n", [], "unknown key learner.epoch; allowed keys in learner: model, hidden, samples, epochs"),
        ("policy:\n  seed: abc\n", [], "policy.seed: expected int, got str 'abc'"),
        ("budget:\n  evaluations: 0\n", [], "budget.evaluations: value 0 is impossible"),
        ("budget:\n  evaluations: null\n", [], "set budget.evaluations, budget.seconds or budget.train_samples"),
        ("learner:\n  samples: -5\n", [], "learner.samples: value -5 is out of range; allowed: >= 1"),
        ("name: x\n", ["resources.learnrs=3"], "unknown key resources.learnrs"),
        ("name: x\n", ["nonsense"], "expected KEY=VALUE"),
        ("- a list\n", [], "must hold a mapping"),
        ("key: [unclosed\n", [], "is not valid YAML"),
        ("learner: 3\n", [], "learner: expected LearnerConfig, got int 3"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path, text, overrides, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), overrides)
    assert message in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
