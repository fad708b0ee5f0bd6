"""The simulator contract as a list of named checks; tells a plug-in author exactly what is wrong.

Like ``gymnasium.utils.env_checker.check_env`` but for the feedback-loop contract: a
``param_space`` of scalar Box/Discrete entries, nominal values inside it, parameters honoured by
``reset(options={"params": ...})`` and ``sample_batch``, ``info["label"]``, a deterministic batch
path, and bad parameters rejected.

Each entry of ``CHECKS`` is a small function that raises ``SimulatorContractError`` (what is wrong,
and how to fix it). Two ways to run them:

- ``check_simulator(env)``: the checks marked ``preflight`` (cheap; run before every loop), stopping
  at the first broken rule;
- ``run_checks(env)``: every check, each reported as ok / FAIL / skip (a check whose prerequisite
  failed) plus warnings; what ``feedback-loop check-env`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym

from .contract_checks import CHECKS, Check, CheckContext, SimulatorContractError, one_line

__all__ = ["CHECKS", "Check", "CheckContext", "CheckResult", "SimulatorContractError", "check_simulator", "run_checks"]


@dataclass(frozen=True)
class CheckResult:
    check: str
    status: str  # "ok", "fail" or "skip"
    message: str = ""
    warnings: tuple[str, ...] = ()
    error: BaseException | None = field(default=None, compare=False, repr=False)
    """The exception behind a failure (for a traceback on request)."""


# -- running them -------------------------------------------------------------------------------------

def check_simulator(env: gym.Env, n: int = 8, seed: int = 0) -> None:
    """Raise ``SimulatorContractError`` naming the first broken rule of the (preflight) contract."""
    ctx = CheckContext(env, n=n, seed=seed)
    for check in CHECKS:
        if check.preflight:
            check.func(ctx)


def run_checks(env: gym.Env, *, samples: int = 500, n: int = 8, seed: int = 0) -> list[CheckResult]:
    """Every check of ``CHECKS`` on ``env``: ok, fail (with the one-line reason) or skip (a needed check failed)."""
    ctx = CheckContext(env, n=n, seed=seed, samples=samples)
    results: list[CheckResult] = []
    passed: set[str] = set()
    for check in CHECKS:
        blocked = [need for need in check.needs if need not in passed]
        if blocked:
            results.append(CheckResult(check.name, "skip", f"needs {', '.join(blocked)} to pass first"))
            continue
        try:
            notes = check.func(ctx) or []
        except SimulatorContractError as err:
            results.append(CheckResult(check.name, "fail", str(err), error=err))
            continue
        except Exception as err:  # the simulator itself crashed inside this check
            results.append(CheckResult(
                check.name, "fail",
                f"{ctx.name} raised {type(err).__name__}: {one_line(err)} — fix the simulator so that this "
                f"rule can be checked ({check.rule}); run with --debug for the traceback", error=err))
            continue
        passed.add(check.name)
        results.append(CheckResult(check.name, "ok", warnings=tuple(notes)))
    return results
