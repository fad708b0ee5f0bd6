"""The documentation site builds strictly, shows every config key, and its runnable blocks run.

- ``mkdocs build --strict`` fails on a broken link, a missing page or an anchor that does not exist
  (``mkdocs.yml``'s ``validation``), so a moved section cannot leave a dead link behind.
- The configuration reference is written from ``feedback_loop/config.py`` at build time
  (``docs/hooks/config_reference.py``); the built page must name every key of every section.
- A fenced block right after a ``<!-- runnable -->`` line is run: ``bash`` blocks with ``bash -e`` (the
  venv's ``bin`` first on ``PATH``), ``python`` blocks with this interpreter, each in a fresh folder
  holding a copy of ``examples/`` and its own MLflow store. Keep them cheap: ``--help``,
  ``check-env``, a run of a few evaluations.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RUNNABLE = re.compile(r"<!-- runnable -->\s*\n```(\w+)[^\n]*\n(.*?)\n```", re.S)

pytest.importorskip("mkdocs", reason="mkdocs is in the test extra: pip install -e '.[test]'")


def runnable_blocks() -> list[tuple[str, str, str]]:
    """``(where, language, code)`` of every block marked runnable in docs/ and the README."""
    found = []
    for path in sorted([*DOCS.rglob("*.md"), ROOT / "README.md"]):
        for match in RUNNABLE.finditer(path.read_text()):
            line = path.read_text()[: match.start()].count("\n") + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1), match.group(2)))
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(mkdocs, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_the_site_builds_strictly(site):
    assert (site / "index.html").is_file()
    assert (site / "reference" / "configuration" / "index.html").is_file()
    benchmarks = (site / "benchmarks" / "index.html").read_text()  # BENCHMARKS.md's current section, included
    assert "Digits-v0 at equal compute" in benchmarks and "--8&lt;--" not in benchmarks


def test_the_configuration_reference_shows_every_key(site):
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        import config_reference
    finally:
        sys.path.remove(str(DOCS / "hooks"))
    page = (site / "reference" / "configuration" / "index.html").read_text()
    missing = [key for key in config_reference.keys() if f"<code>{key}</code>" not in page]
    assert not missing, f"keys missing from the built configuration reference: {missing}"
    assert "config-reference:" not in page, "a marker was left unreplaced"
    assert "Generated samples each evaluation trains on" in page  # learner.samples' field docstring made it in


def test_the_policies_guide_lists_every_policy_s_options(site):
    from feedback_loop.policies import POLICIES

    page = (site / "guides" / "policies" / "index.html").read_text()
    assert "policy-options" not in page, "the marker was left unreplaced"
    for name in POLICIES:
        assert f"<code>{name}</code>" in page, name


def test_the_cli_reference_shows_every_command(site):
    page = (site / "reference" / "cli" / "index.html").read_text()
    for command in ["run", "resume", "compare", "export", "generate", "check-env"]:
        assert f"usage: feedback-loop {command}" in page, command


def test_there_are_runnable_blocks():
    languages = {language for _, language, _ in runnable_blocks()}
    assert {"bash", "python"} <= languages


@pytest.mark.parametrize("where,language,code", runnable_blocks(), ids=[w for w, _, _ in runnable_blocks()])
def test_runnable_block(where, language, code, tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("runs", "mlflow.db"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    if language == "bash":
        command = ["bash", "-e", "-c", code]
    elif language == "python":
        command = [sys.executable, "-c", code]
    else:
        pytest.fail(f"{where}: runnable blocks are bash or python, not {language}")
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{where} failed (exit {proc.returncode}):\n{code}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_the_dozen_line_simulator_follows_the_contract(page, tmp_path):
    """The simulator a new user copies from the README (and the getting-started page) passes check-env."""
    text = (ROOT / page).read_text()
    section = text[text.index("ring your own simulator"):]
    code = section.split("```python\n", 1)[1].split("\n```", 1)[0]
    (tmp_path / "my_sim.py").write_text(code + "\n")
    feedback_loop = Path(sys.executable).parent / "feedback-loop"
    proc = subprocess.run([str(feedback_loop), "check-env", "my_sim:Rings"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{page}'s simulator fails check-env:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.parametrize("page", ["README.md", "BENCHMARKS.md", "examples/custom_simulator/README.md"])
def test_the_links_of_pages_outside_the_site_resolve(page):
    """The README and BENCHMARKS.md link into docs/ by path (they are read on the repository's page)."""
    path = ROOT / page
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    missing = [t for t in targets if "://" not in t and not (path.parent / t).exists()]
    assert not missing, f"{page} links to files that do not exist: {missing}"
