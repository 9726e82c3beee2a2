"""What importing each layer loads, each checked in a fresh interpreter (``sys.modules``).

This sees only imports that run at import time. The boundaries themselves (STYLE.md
habit 4), lazy imports included, are read from the source in
tests/layers/test_layer_boundaries.py; ``pcompile.runtime``'s import cost is tested in
tests/runtime/test_imports.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PULUMI = ("pulumi", "pulumi_aws", "pulumi_gcp")


def imported_after(statement: str) -> set[str]:
    """Top-level and pcompile module names in ``sys.modules`` after running ``statement``."""
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_sdk_imports_neither_pulumi_nor_the_compiler() -> None:
    modules = imported_after("import pcompile")
    assert not {m for m in modules if m.split(".")[0] in PULUMI}
    assert not {
        m for m in modules if m.startswith("pcompile.compiler") or m.startswith("pcompile.providers.")
    }


def test_compiler_imports_no_pulumi() -> None:
    modules = imported_after("import pcompile.compiler, pcompile.compiler.build, pcompile.compiler.loader")
    assert not {m for m in modules if m.split(".")[0] in PULUMI}


def test_compiling_a_program_imports_no_pulumi() -> None:
    from spine_kit import fixture_path

    path = fixture_path("spine_acceptance.py")
    modules = imported_after(f"from pcompile.compiler import compile_file\ncompile_file({str(path)!r})")
    assert not {m for m in modules if m.split(".")[0] in PULUMI}


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_provider_placement_imports_no_pulumi(cloud: str) -> None:
    modules = imported_after(f"import pcompile.providers.{cloud}.placement")
    assert not {m for m in modules if m.split(".")[0] in PULUMI}
