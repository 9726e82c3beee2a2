"""Every CLI example in README.md runs.

The convention (agreed with the README's owner): inside a fenced ```console block,
each line starting with ``$ pcompile`` is a command; a trailing ``\\`` continues it
on the next line. Lines marked ``# needs: cloud`` (or ``# needs: network``) are
skipped here; ``# exit: N`` expects exit code N instead of 0. Each block runs in
order, in a fresh copy of the repository's ``examples/`` and ``stacks/`` folders,
through the ``pcompile`` console script.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
# Pages whose console blocks are run too (this area's own page).
PAGES = (README, REPO / "docs" / "deploy.md")
SKIP_MARKERS = ("# needs: cloud", "# needs: network")
COPIED = ("examples", "stacks", "tests/fixtures")


@dataclass(frozen=True)
class Command:
    """One README command: its argv, the exit code it should end with, and whether it runs here."""

    line: int
    argv: tuple[str, ...]
    exit_code: int
    runnable: bool


def extract_blocks(text: str) -> list[list[Command]]:
    """The ``$ pcompile`` commands of each ```console block, in order."""
    blocks: list[list[Command]] = []
    current: list[Command] | None = None
    pending = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if current is None:
            if stripped.startswith("```console"):
                current = []
            continue
        if stripped.startswith("```"):
            blocks.append(current)
            current, pending = None, ""
            continue
        if pending or stripped.startswith("$ pcompile"):
            pending += stripped.removeprefix("$ ").rstrip("\\").rstrip() + " "
            if not stripped.endswith("\\"):
                current.append(_command(number, pending.strip()))
                pending = ""
    return [b for b in blocks if b]


def _command(line: int, text: str) -> Command:
    runnable = not any(marker in text for marker in SKIP_MARKERS)
    expected = re.search(r"#\s*exit:\s*(\d+)", text)
    code, _, _ = text.partition("#")
    return Command(line, tuple(shlex.split(code)), int(expected.group(1)) if expected else 0, runnable)


BLOCKS = [(page, block) for page in PAGES if page.is_file() for block in extract_blocks(page.read_text())]


def test_extractor_understands_the_convention() -> None:
    text = (
        "```console\n$ pcompile init --cloud aws \\\n    --yes\nwrote app.py\n"
        "$ pcompile deploy app.py --stack dev  # needs: cloud\n$ pcompile app list # exit: 1\n```\n"
        "```bash\n$ pcompile ignored\n```\n"
    )
    (block,) = extract_blocks(text)
    assert [c.argv for c in block] == [
        ("pcompile", "init", "--cloud", "aws", "--yes"),
        ("pcompile", "deploy", "app.py", "--stack", "dev"),
        ("pcompile", "app", "list"),
    ]
    assert [c.runnable for c in block] == [True, False, True]
    assert [c.exit_code for c in block] == [0, 0, 1]


@pytest.mark.parametrize(("page", "block"), BLOCKS, ids=[f"{p.name}:{b[0].line}" for p, b in BLOCKS])
def test_readme_block_runs(page: Path, block: list[Command], tmp_path: Path) -> None:
    for folder in COPIED:
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, tmp_path / folder)
    pcompile = shutil.which("pcompile", path=str(Path(sys.executable).parent)) or "pcompile"
    env = {**os.environ, "CI": "true", "PCOMPILE_README_TEST": "1"}
    ran = 0
    for command in block:
        if not command.runnable:
            continue
        result = subprocess.run(
            [pcompile, *command.argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
        )
        assert result.returncode == command.exit_code, (
            f"{page.name}:{command.line}: {shlex.join(command.argv)} exited {result.returncode}\n"
            f"{result.stdout}\n{result.stderr}"
        )
        ran += 1
    if ran == 0:
        pytest.skip("every command of this block needs a cloud")
