"""What every contract check shares: the error it raises, the context it sees, how a check is
declared, and two small helpers (a batch at nominal, an error on one line)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
from gymnasium import spaces

from .generation import generate_batch


class SimulatorContractError(TypeError):
    """A simulator does not follow the feedback-loop contract; the message says what to fix.

    ``problem`` says what is wrong, ``fix`` (optional) how to fix it; the message joins them with " — ".
    """

    def __init__(self, problem: str, fix: str | None = None) -> None:
        super().__init__(f"{problem} — {fix}" if fix else problem)
        self.problem = problem
        self.fix = fix


@dataclass
class CheckContext:
    """What a check sees: the simulator, sizes and seed, and values an earlier check computed."""

    env: gym.Env
    n: int = 8
    """Batch size of the quick checks (determinism, labels)."""
    seed: int = 0
    samples: int = 500
    """Samples compared between sample_batch and repeated reset (more: a sharper test, slower)."""
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return type(self.env).__name__

    @property
    def space(self) -> spaces.Dict:
        return self.env.param_space

    @property
    def nominal(self) -> dict[str, Any]:
        return dict(self.env.nominal_params)


@dataclass(frozen=True)
class Check:
    name: str
    rule: str
    func: Callable[[CheckContext], list[str] | None]
    """Raises SimulatorContractError when broken; may return warnings (lines) when it passes."""
    needs: tuple[str, ...] = ()
    """Checks that must pass first (else this one is skipped)."""
    preflight: bool = False
    """Part of ``check_simulator``, run before every loop (keep these cheap)."""


def batch(ctx: CheckContext, params: dict | None = None, n: int | None = None, seed: int | None = None):
    return generate_batch(ctx.env, ctx.nominal if params is None else params, n or ctx.n,
                          ctx.seed if seed is None else seed)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def one_line(obj: Any) -> str:
    return " ".join(_ANSI.sub("", str(obj)).split())
