"""Contract test suites for plug-in authors, shipped inside the package (as ``optuna.testing`` does).

Subclass one of the classes below in your own test file, override its fixture, and pytest runs
every rule of the contract against your implementation::

    import pytest
    from feedback_loop.testing import PolicyContract, RefinerContract, SimulatorContract, TaskContract

    class TestMySimulator(SimulatorContract):
        @pytest.fixture
        def simulator(self):
            return MySimulator()

    class TestMyPolicy(PolicyContract):
        @pytest.fixture
        def make_policy(self, simulator):          # simulator: GaussianMixture unless overridden
            return lambda seed: MyPolicy(param_space=simulator.param_space,
                                         nominal_params=simulator.nominal_params, seed=seed)

    class TestMyRefiner(RefinerContract):
        @pytest.fixture
        def make_refiner(self):
            return lambda seed: MyRefiner(seed=seed)

    class TestMyTask(TaskContract):
        @pytest.fixture
        def task_case(self):                       # an unbound task, its simulator, valid labels
            return MyTask(), MySimulator(), my_labels

Every test's docstring (and its assertion message) names the rule it checks. These modules need
pytest (``pip install feedback-loop[test]``) and never import ray or mlflow.
"""

import pytest

# Rich assertion messages in the suites, although they live outside the author's test folder.
pytest.register_assert_rewrite(
    "feedback_loop.testing.policies", "feedback_loop.testing.refiners", "feedback_loop.testing.simulators",
    "feedback_loop.testing.tasks",
)

from .policies import PolicyContract  # noqa: E402
from .refiners import RefinerContract  # noqa: E402
from .simulators import SimulatorContract  # noqa: E402
from .tasks import TaskContract  # noqa: E402

__all__ = ["PolicyContract", "RefinerContract", "SimulatorContract", "TaskContract"]
