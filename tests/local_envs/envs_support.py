"""Shared by the local-environment tests and their conftest (tests import from here,
never from conftest: only one conftest.py can be the module named ``conftest``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CLI = [sys.executable, "-c", "from pcompile.cli.main import main; main()"]
Runner = Callable[..., subprocess.CompletedProcess[str]]
