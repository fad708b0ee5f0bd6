"""``feedback_loop.testing`` as a plug-in author uses it: tiny plug-ins pass, a broken one is told why."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

from feedback_loop.envs import Simulator
from feedback_loop.policies import Candidate, Policy
from feedback_loop.refiners import Refiner
from feedback_loop.testing import PolicyContract, RefinerContract, SimulatorContract

REPO = Path(__file__).resolve().parents[1]


# -- tiny plug-ins, as an author would write them ------------------------------------------------------
class TinyPolicy(Policy):
    """Random search in a few lines."""

    def __init__(self, *, param_space, nominal_params, seed):
        super().__init__(param_space=param_space, nominal_params=nominal_params, seed=seed)
        self.rng = np.random.default_rng(seed)

    def ask(self, n=1):
        out = []
        for _ in range(n):
            params = {}
            for name, space in self.param_space.spaces.items():
                if isinstance(space, spaces.Discrete):
                    params[name] = int(space.start + self.rng.integers(space.n))
                else:
                    params[name] = float(self.rng.uniform(float(space.low), float(space.high)))
            out.append(Candidate(id=self._new_id(), params=params))
        return out

    def tell(self, candidate, outcome):
        pass

    def state_dict(self):
        return {"next_id": self._next_id, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        self._next_id = state["next_id"]
        self.rng.bit_generator.state = state["rng"]


class DuplicateIdsPolicy(TinyPolicy):
    """Broken on purpose: all candidates of one ask share an id."""

    def ask(self, n=1):
        candidates = super().ask(n)
        for candidate in candidates:
            candidate.id = candidates[0].id
        return candidates


class Coin(Simulator):
    """Label ~ Bernoulli(bias); the first feature is label * spread plus noise."""

    def __init__(self):
        self.param_space = spaces.Dict({"bias": spaces.Box(0.05, 0.95, shape=(), dtype=np.float32),
                                        "spread": spaces.Discrete(3, start=1)})
        self.nominal_params = {"bias": 0.5, "spread": 1}
        self.observation_space = spaces.Box(-10, 10, shape=(2,), dtype=np.float32)
        self.num_classes = 2

    def sample_batch(self, params, n, seed):
        p = self.check_params(params, n)
        rng = np.random.default_rng(seed)
        y = (rng.random(n) < p["bias"]).astype(np.int64)
        x = np.stack([y * p["spread"], np.zeros(n)], axis=1) + rng.normal(0, 0.3, (n, 2))
        return np.clip(x, -10, 10).astype(np.float32), y


class GainRefiner(Refiner):
    """Scales batches so that their mean matches the real data's: one weight, no discriminator."""

    name = "gain"

    def __init__(self, seed=0):
        self.gain = 1.0
        self._losses = []

    @staticmethod
    def _check(batch):
        x = np.asarray(batch)
        if x.ndim != 4:
            raise ValueError(f"expected a batch of shape (N, C, H, W); got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("the batch contains NaN or infinite values")
        return x

    def fit(self, synthetic, real_unlabeled, *, steps=None):
        s, r = self._check(synthetic), self._check(real_unlabeled)
        self.gain = float(r.mean() / max(s.mean(), 1e-6))
        record = {"step": float(len(self._losses)), "gain": self.gain}
        self._losses.append(record)
        return [record]

    def refine(self, batch):
        return np.clip(self._check(batch) * self.gain, 0.0, 16.0).astype(np.float32)

    def realism(self, batch):
        return np.full(len(self._check(batch)), 0.5, dtype=np.float32)

    def state_dict(self):
        return {"gain": np.array([self.gain])}

    def load_state_dict(self, state):
        if set(state) != {"gain"}:
            raise ValueError(f"GainRefiner needs the weight 'gain'; got {sorted(state)}")
        self.gain = float(np.asarray(state["gain"]).reshape(-1)[0])

    @property
    def losses(self):
        return list(self._losses)


# -- the author's test classes ------------------------------------------------------------------------
class TestTinyPolicy(PolicyContract):
    @pytest.fixture
    def learns_from_outcomes(self):  # random search: its tell() does nothing
        return False

    @pytest.fixture
    def make_policy(self, simulator):  # simulator: the default GaussianMixture
        return lambda seed: TinyPolicy(param_space=simulator.param_space,
                                       nominal_params=simulator.nominal_params, seed=seed)


class TestCoinSimulator(SimulatorContract):
    @pytest.fixture
    def simulator(self):
        return Coin()


class TestTinyPolicyOnCoin(TestTinyPolicy):
    """The policy suite on the author's own simulator, with a (seed, workdir) factory."""

    @pytest.fixture
    def simulator(self):
        return Coin()

    @pytest.fixture
    def make_policy(self, simulator):
        return lambda seed, workdir: TinyPolicy(param_space=simulator.param_space,
                                                nominal_params=simulator.nominal_params, seed=seed)


class TestGainRefiner(RefinerContract):
    @pytest.fixture
    def make_refiner(self):
        return lambda seed: GainRefiner(seed=seed)


# -- a broken plug-in fails, naming the rule; running the suite as an author does ---------------------
def _run_pytest(path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "pytest", str(path), "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(path.parent)],
                          cwd=path.parent, env=env, capture_output=True, text=True, timeout=300)


def test_a_broken_policy_fails_naming_the_rule_and_a_good_one_passes(tmp_path):
    source = "\n".join([
        "import numpy as np", "import pytest", "from gymnasium import spaces",
        "from feedback_loop.policies import Candidate, Policy",
        "from feedback_loop.testing import PolicyContract", "",
        inspect.getsource(TinyPolicy), inspect.getsource(DuplicateIdsPolicy),
        textwrap.dedent("""
        class TestGood(PolicyContract):
            @pytest.fixture
            def learns_from_outcomes(self):
                return False

            @pytest.fixture
            def make_policy(self, simulator):
                return lambda seed: TinyPolicy(param_space=simulator.param_space,
                                               nominal_params=simulator.nominal_params, seed=seed)

        class TestBroken(PolicyContract):
            @pytest.fixture
            def learns_from_outcomes(self):
                return False

            @pytest.fixture
            def make_policy(self, simulator):
                return lambda seed: DuplicateIdsPolicy(param_space=simulator.param_space,
                                                       nominal_params=simulator.nominal_params, seed=seed)
        """),
    ])
    path = tmp_path / "test_my_policy.py"
    path.write_text(source)
    result = _run_pytest(path)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "1 failed, 11 passed" in out, out
    assert "FAILED test_my_policy.py::TestBroken::test_ask_returns_distinct_candidates_inside_the_space" in out, out
    assert "Rule: ask(n) returns n candidates with distinct ids, all inside param_space." in out, out  # docstring
    assert "ask(n) must return candidates with distinct ids; got ids [0, 0, 0]" in out, out  # message
    assert "TestGood" not in out.split("short test summary")[-1], out


def test_the_testing_package_imports_neither_ray_nor_mlflow():
    code = "import sys, feedback_loop.testing; print(sorted({'ray', 'mlflow'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
