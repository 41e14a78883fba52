"""README's two opening commands are the ones CI and users run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _opening_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no bash code block"
    return [line for line in blocks[0].splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_main_job_and_test_commands():
    main_job, test_cmd = _opening_commands()[:2]
    assert "raydd sweep submit sweeps/quickstart.yaml" in main_job
    assert "pytest" in test_cmd


def test_ci_runs_the_readme_test_command_verbatim():
    test_cmd = _opening_commands()[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci_lines
