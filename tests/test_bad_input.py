"""Bad input gets one clear message naming the field, the value and what is allowed."""

from __future__ import annotations

import pytest

from feedback_loop.cli import main
from feedback_loop.envs.generation import generate_batch


def test_parameter_outside_param_space_names_parameter_value_and_bounds(gm_env):
    with pytest.raises(ValueError, match=r"parameter 'c0_m0_x': value 9\.0 is outside its bounds \[-5\.0, 5\.0\]"):
        generate_batch(gm_env, {"c0_m0_x": 9.0}, 10, seed=0)


def test_randomization_range_outside_param_space_is_refused(gm_env):
    with pytest.raises(ValueError, match=r"parameter 'c0_m0_x': value .* is outside its bounds"):
        generate_batch(gm_env, None, 10, seed=0, ranges={"c0_m0_x": [4.0, 6.0]})


def test_debug_flag_shows_the_traceback(capsys):
    assert main(["--debug", "run", "no-such-file.yaml"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "error: config file 'no-such-file.yaml' does not exist" in err


def test_unknown_plugin_namespace_imports_nothing(capsys):
    assert main(["run", "examples/gaussian_mixture.yaml", "--set", "simulator.id=not_installed_pkg/Sim-v0"]) == 2
    assert "simulator.id: unknown simulator 'not_installed_pkg/Sim-v0'" in capsys.readouterr().err
