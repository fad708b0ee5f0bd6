"""CPU and GPU shares of a run's actors, fitted to what Ray has.

A share left unset (``None``) is decided here: CPUs at the preferred share (``PREFERRED_CPUS``) when
every actor fits, else scaled down together until they do, so a user never does the arithmetic; the
learners' and the refiner's GPUs an equal part of the whole GPUs that explicit requests leave (none
on a machine without one). A share given explicitly is kept; when explicit shares cannot fit, the
refusal names them and the setting that decides how many actors there are (``resources.learners``,
or for a population ``policy.options.population``). Results do not depend on the shares: a learner
under 1.5 CPUs uses one torch thread either way (``limit_torch_threads``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..config import Config, RefinerConfig, ResourcesConfig
from .base import ResourceError

# The shares the loop asks for when there is room (the defaults before they fitted themselves).
PREFERRED_CPUS = {"generator": 0.5, "learner": 0.75, "refiner": 0.5}
MIN_CPUS = 0.05  # below this an actor would only wait: refuse rather than starve it
_GRAIN = 1e-4  # Ray's resource precision: shares are rounded down to it so their sum never exceeds what is there


@dataclass(frozen=True)
class Group:
    """``count`` actors of one kind with their CPU and GPU share (None: fit) and the settings that say so."""

    kind: str  # generator, learner, refiner
    count: int
    cpus: float | None
    gpus: float | None
    cpus_key: str
    gpus_key: str
    count_key: str  # the setting that decides ``count``


def learners_setting(config: Config, persistent: bool) -> str:
    """The setting that decides how many learner actors a run has."""
    if not persistent:
        return "resources.learners"
    from ..policies import POLICIES

    option = getattr(POLICIES[config.policy.name], "members_option", None)
    return f"policy.options.{option}" if option else f"policy.name ({config.policy.name!r}: one persistent learner)"


def groups(config: Config, generators: int, learners: int, persistent: bool) -> list[Group]:
    """The run's actors, by kind (a refiner only when one runs)."""
    res, refiner = config.resources, config.refiner
    placed = "resources.learners (pack: one generator per learner)" if res.placement == "pack" else "resources.generators"
    out = [Group("generator", generators, res.generator_cpus, res.generator_gpus, "resources.generator_cpus",
                 "resources.generator_gpus", learners_setting(config, persistent) if res.placement == "pack" else placed),
           Group("learner", learners, res.learner_cpus, res.learner_gpus, "resources.learner_cpus",
                 "resources.learner_gpus", learners_setting(config, persistent))]
    if refiner.name != "none":
        out.append(Group("refiner", 1, refiner.cpus, refiner.gpus, "refiner.cpus", "refiner.gpus", "refiner.name"))
    return out


def _floor(value: float) -> float:
    return round(math.floor(value / _GRAIN + 1e-9) * _GRAIN, 4)


def fit_cpus(actors: list[Group], have: float, strict: bool = True) -> dict[str, float]:
    """Each kind's CPU share: explicit ones kept, the others preferred or scaled down to what is left.
    ``strict``: refuse what cannot fit (a local Ray); else (a cluster, which may grow) ask the preferred."""
    fixed = sum(g.count * g.cpus for g in actors if g.cpus is not None)
    auto = [g for g in actors if g.cpus is None and g.count]
    wanted = sum(g.count * PREFERRED_CPUS[g.kind] for g in auto)
    left = have - fixed
    impossible = fixed > have + 1e-9 or bool(auto and left / wanted * min(PREFERRED_CPUS[g.kind] for g in auto) < MIN_CPUS)
    if impossible and strict:
        raise ResourceError(_too_many_cpus(actors, have))
    scale = 1.0 if impossible or wanted <= left + 1e-9 else left / wanted
    shares = {g.kind: float(g.cpus) for g in actors if g.cpus is not None}
    shares.update({g.kind: PREFERRED_CPUS[g.kind] if scale == 1.0 else _floor(PREFERRED_CPUS[g.kind] * scale)
                   for g in auto})
    return shares


def _too_many_cpus(actors: list[Group], have: float) -> str:
    parts = " + ".join(f"{g.count} {g.kind}{'s' if g.count != 1 else ''} × "
                       f"{'fitted' if g.cpus is None else f'{g.cpus:g}'} ({g.count_key}; {g.cpus_key})"
                       for g in actors if g.count)
    explicit = [g for g in actors if g.cpus is not None and g.count]
    deciding = explicit or [g for g in actors if g.count]  # the explicit shares' counts decide, where there are some
    fix = (f"lower {' or '.join(sorted({g.count_key for g in deciding}))}"
           + (f", or leave {', '.join(g.cpus_key for g in explicit)} unset to fit the machine" if explicit else ""))
    return f"resources: the actors cannot fit the {have:g} CPUs Ray has: {parts}; {fix}"


def fit_gpus(actors: list[Group], have: float) -> dict[str, float]:
    """Each kind's GPU share: explicit ones kept; the learners' and refiner's unset ones share the whole
    GPUs the explicit ones leave (0 where none are left: they run on CPU); a generator's unset is 0."""
    from .resources import gpus_to_pack

    explicit = [share for g in actors if g.gpus is not None for share in [g.gpus] * g.count]
    shares = {g.kind: float(g.gpus) for g in actors if g.gpus is not None}
    shares.update({g.kind: 0.0 for g in actors if g.gpus is None and g.kind == "generator"})
    auto = [g for g in actors if g.gpus is None and g.kind != "generator"]
    free = int(have + 1e-9) - gpus_to_pack(explicit)
    count = sum(g.count for g in auto)
    per_gpu = math.ceil(count / free) if free > 0 and count else 0
    shares.update({g.kind: (1.0 if per_gpu == 1 else _floor(1.0 / per_gpu)) if per_gpu else 0.0 for g in auto})
    return shares


def fitted(config: Config, generators: int, learners: int, persistent: bool, have: dict[str, float],
           strict: bool = True) -> tuple[ResourcesConfig, RefinerConfig]:
    """``config.resources`` and ``config.refiner`` with every share decided for what Ray ``have``s."""
    actors = groups(config, generators, learners, persistent)
    cpus = fit_cpus(actors, float(have.get("CPU", 0.0)), strict)
    gpus = fit_gpus(actors, float(have.get("GPU", 0.0)))
    res = dataclasses.replace(config.resources, generator_cpus=cpus["generator"], learner_cpus=cpus["learner"],
                              generator_gpus=gpus["generator"], learner_gpus=gpus["learner"])
    refiner = (dataclasses.replace(config.refiner, cpus=cpus["refiner"], gpus=gpus["refiner"])
               if "refiner" in cpus else config.refiner)
    return res, refiner
