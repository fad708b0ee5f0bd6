"""Policies: ask/tell objects that move a simulator's generation parameters.

Each policy lives in its own module and is re-exported here; ``make_policy`` builds one by the
name a config uses. This package must not import ray or mlflow: a policy is usable alone.
"""

from typing import Any

from gymnasium import spaces

from .adr import ADRPolicy
from .adversarial import AdversarialPolicy
from .base import Candidate, LearnerMode, Outcome, Policy
from .optuna_policy import SAMPLERS, OptunaPolicy
from .pbt import PBTPolicy
from .random_search import RandomSearch
from .reinforce import ReinforcePolicy
from .space import ParamCodec
from .uniform_dr import UniformDR

POLICIES: dict[str, type[Policy]] = {
    "random": RandomSearch,
    "uniform": UniformDR,
    "optuna": OptunaPolicy,
    "reinforce": ReinforcePolicy,
    "adversarial": AdversarialPolicy,
    "adr": ADRPolicy,
    "pbt": PBTPolicy,
}


def make_policy(name: str, *, param_space: spaces.Dict, nominal_params: dict, seed: int, **options: Any) -> Policy:
    """Build the policy registered under ``name`` (see ``POLICIES``) with its own options."""
    if name not in POLICIES:
        raise ValueError(f"policy.name: unknown policy {name!r}; choose one of {sorted(POLICIES)}")
    return POLICIES[name](param_space=param_space, nominal_params=nominal_params, seed=seed, **options)


__all__ = [
    "Candidate", "LearnerMode", "Outcome", "Policy", "OptunaPolicy", "RandomSearch", "UniformDR",
    "ReinforcePolicy", "AdversarialPolicy", "ADRPolicy", "PBTPolicy",
    "ParamCodec", "POLICIES", "SAMPLERS", "make_policy",
]
