"""A map under random worker SIGKILLs: nothing lost, failed or wrong; re-executions bounded.

The driver is ``benchmarks/chaos_map.py`` (which runs 10,000 inputs); here it runs at
a size that fits CI.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

CHAOS = Path(__file__).resolve().parents[2] / "benchmarks" / "chaos_map.py"


def _chaos_module():
    spec = importlib.util.spec_from_file_location("chaos_map", CHAOS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_map_survives_twenty_random_kills_at_start_and_while_running(local_dir):
    figures = _chaos_module().run(2000, 20, seed=11)
    assert figures["outputs"] == 2000 and figures["lost"] == 0
    assert figures["failed"] == 0, figures["errors"]
    assert figures["wrong"] == 0
    assert figures["kills_running"] + figures["kills_at_start"] >= 20
    assert figures["kills_at_start"] >= 1 and figures["kills_running"] >= 1
    assert 0 <= figures["re_executions"] <= figures["re_execution_bound"]
    assert figures["ok"]
