"""The README's test command is what CI runs, verbatim (``.ci/run``), so a change to one cannot
silently leave the other behind."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("Set up and run the tests"):]
    command = section.split("```bash\n", 1)[1].split("\n```", 1)[0].strip()
    assert command.startswith("python3 -m venv .venv") and "pytest" in command
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in lines
