"""No setting silently ignored: every rule of ``config_rules.RULES`` refuses or warns as declared.

Each rule carries an ``example`` (``--set`` assignments on an example config that set its key under
its condition); the walk below runs each through preflight and checks that *that* rule is what fired,
by taking the rule out of the table and seeing the refusal or warning go.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import pytest

from feedback_loop import config_rules
from feedback_loop.config import Config, ConfigError, load_config
from feedback_loop.config_rules import RULES, check_rules, is_set, value_at
from feedback_loop.preflight import prepare_run

ROOT = Path(__file__).resolve().parents[1]
GM = str(ROOT / "examples" / "gaussian_mixture.yaml")
DIGITS = str(ROOT / "examples" / "digits.yaml")


def example_for(rule: config_rules.Rule) -> str:
    """The example config a rule's ``example`` applies to (a refiner needs images)."""
    return DIGITS if "refiner.name=simgan" in rule.example else GM


def rule_id(rule: config_rules.Rule) -> str:
    return f"{rule.key}[{rule.when}]"


def _leaf_keys(cls: type, prefix: str = "") -> set[str]:
    """Every key path of the config dataclasses (a dict-typed field: its own path)."""
    keys = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            keys |= _leaf_keys(hints[f.name], path + ".")
        else:
            keys.add(path)
    return keys


def test_every_rule_names_a_config_key_and_says_when_and_why():
    keys = _leaf_keys(Config)
    for rule in RULES:
        # a key of the dataclasses, or an entry of a dict-typed one (policy.options.sampler)
        assert rule.key in keys or rule.key.rsplit(".", 1)[0] in keys, rule.key
        assert rule.action in ("refuse", "warn") and rule.when and rule.reason and rule.example, rule


@pytest.mark.parametrize("rule", RULES, ids=[rule_id(r) for r in RULES])
def test_each_rule_set_alone_on_an_example_is_refused_or_warned_as_declared(rule, monkeypatch):
    config = load_config(example_for(rule), list(rule.example))
    assert is_set(config, rule.key), f"the example does not set {rule.key}"
    value = repr(value_at(config, rule.key))
    if rule.action == "refuse":
        with pytest.raises(ConfigError) as info:
            prepare_run(config)
        message = str(info.value)
        assert message.startswith(f"{rule.key}: value {value}") and rule.reason in message, message
    else:
        warnings = prepare_run(config).warnings
        assert f"{rule.key}: value {value} {rule.reason}" in "\n".join(warnings), warnings
    # it is this rule that fires: without it in the table, the line is gone
    monkeypatch.setattr(config_rules, "RULES", [r for r in RULES if r is not rule])
    try:
        lines = check_rules(config)
    except ConfigError as err:  # another rule refuses: it must not be this one's line
        lines = [str(err)]
    assert not any(line.startswith(f"{rule.key}: value {value} {rule.reason}") for line in lines)


@pytest.mark.parametrize("rule", RULES, ids=[rule_id(r) for r in RULES])
def test_the_key_left_at_its_default_raises_nothing(rule):
    """The condition alone (the example without the key's own assignment) is no warning of this key."""
    rest = [a for a in rule.example if not a.startswith(rule.key + "=")]
    if rule.key.startswith("policy.options."):
        rest = [a for a in rule.example if not a.startswith("policy.options=")]
    config = load_config(example_for(rule), rest)
    try:
        lines = check_rules(config)
    except ConfigError as err:
        lines = [str(err)]
    assert not any(line.startswith(f"{rule.key}:") and rule.reason in line for line in lines), lines


# -- each combination the issue names --------------------------------------------------------------

NAMED = [  # (overrides, the key warned or refused, action)
    (["policy.name=pbt", "selection.candidates=3"], "selection.candidates", "warn"),
    (["policy.name=adr", "selection.seeds=4"], "selection.seeds", "warn"),
    (["policy.name=pbt", "final.fresh_epochs=true"], "final.fresh_epochs", "warn"),
    (["policy.name=optuna", "learner.persistent_epochs=3"], "learner.persistent_epochs", "warn"),
    (["policy.name=random", "learner.persistent_samples=300"], "learner.persistent_samples", "warn"),
    (["policy.name=adversarial", "resources.learners=4"], "resources.learners", "warn"),
    (["policy.name=pbt", "resources.learners=4"], "resources.learners", "warn"),
    (["search.eta=5"], "search.eta", "warn"),
    (["policy.name=reinforce", "policy.sampler=gp"], "policy.sampler", "warn"),
    (["learner.model=tests.plugins:tiny_model", "learner.hidden=16"], "learner.hidden", "refuse"),
    (["refiner.refresh_every=3"], "refiner.refresh_every", "warn"),
    (["refiner.fit_samples=100"], "refiner.fit_samples", "warn"),
    (["policy.options={sampler: gp}"], "policy.options.sampler", "refuse"),
]


@pytest.mark.parametrize("overrides, key, action", NAMED, ids=[" ".join(o) for o, _, _ in NAMED])
def test_the_combinations_the_issue_names(overrides, key, action):
    config = load_config(GM, overrides)
    if action == "refuse":
        with pytest.raises(ConfigError, match=f"^{key}: value "):
            prepare_run(config)
    else:
        assert any(line.startswith(f"{key}: value ") for line in prepare_run(config).warnings)


def test_refresh_steps_without_refresh_every_is_warned_on_a_refined_run():
    prepared = prepare_run(load_config(DIGITS, ["refiner.name=simgan", "refiner.refresh_steps=7"]))
    assert any(line.startswith("refiner.refresh_steps: value 7 is ignored") for line in prepared.warnings)
    prepared = prepare_run(load_config(DIGITS, ["refiner.name=simgan", "refiner.refresh_steps=7",
                                                "refiner.refresh_every=4"]))
    assert prepared.warnings == []


def test_sampler_is_said_one_way_and_the_run_uses_it():
    with pytest.raises(ConfigError, match="policy.options.sampler: value 'cmaes' says policy.sampler a second time; "
                                          "set policy.sampler instead"):
        prepare_run(load_config(GM, ["policy.options={sampler: cmaes}"]))
    assert prepare_run(load_config(GM, ["policy.sampler=cmaes"])).policy_options["sampler"] == "cmaes"


@pytest.mark.parametrize("policy", ["uniform", "optuna", "random"])
def test_a_race_the_evaluation_budget_cannot_finish_is_refused_for_every_policy(policy):
    """uniform used to pass preflight, start nothing and end "failed"; now it is refused as optuna is."""
    with pytest.raises(ConfigError, match=r"^budget.evaluations: value 2 cannot finish one race of search.repeats 3"):
        prepare_run(load_config(GM, [f"policy.name={policy}", "search.repeats=3", "budget.evaluations=2"]))
    prepare_run(load_config(GM, [f"policy.name={policy}", "search.repeats=3", "budget.evaluations=3"]))


def test_example_configs_as_they_are_warn_about_nothing():
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        assert check_rules(load_config(str(path))) == [], path.name


def test_a_config_written_back_by_a_run_raises_nothing_new(tmp_path):
    """Resume reloads the dumped config (every key, defaults included): only changed keys count as set."""
    from feedback_loop.config import dump_config

    config = load_config(GM, ["policy.name=pbt"])
    dump_config(config, tmp_path / "config.yaml")
    assert check_rules(load_config(tmp_path / "config.yaml")) == check_rules(config) == []


def test_warnings_reach_summary_json_and_the_mlflow_tag(tmp_path, tracking_uri, caplog):
    import mlflow

    from feedback_loop.executors import InProcessExecutor
    from feedback_loop.loop import LoopRunner

    config = load_config(GM, ["learner.samples=100", "learner.epochs=1", "budget.evaluations=2", "search.eta=4",
                              "name=test-config-warnings"])
    with caplog.at_level("WARNING", logger="feedback_loop.preflight"):
        prepared = prepare_run(config)
    assert caplog.text.count("search.eta: value 4 is ignored") == 1  # printed once
    runner = LoopRunner(config, tmp_path / "run", executor=InProcessExecutor.for_run(prepared), prepared=prepared,
                        tracking_uri=tracking_uri)
    summary = runner.run(progress=False)
    assert summary["warnings"] == prepared.warnings and summary["warnings"][0].startswith("search.eta: value 4")
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["warnings"] == summary["warnings"]
    run = mlflow.MlflowClient(tracking_uri).get_run(summary["mlflow_run_id"])
    assert run.data.tags["config_warnings"] == "\n".join(summary["warnings"])


def test_a_run_without_warnings_says_so_in_its_summary(tmp_path):
    from feedback_loop.executors import InProcessExecutor
    from feedback_loop.loop import LoopRunner

    config = load_config(GM, ["learner.samples=100", "learner.epochs=1", "budget.evaluations=1",
                              "tracking.tracking_uri=none", "name=test-no-warnings"])
    prepared = prepare_run(config)
    summary = LoopRunner(config, tmp_path / "run", executor=InProcessExecutor.for_run(prepared),
                         prepared=prepared).run(progress=False)
    assert summary["warnings"] == []
