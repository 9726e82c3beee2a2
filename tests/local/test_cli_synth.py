"""``pcompile synth`` output: whole cells when piped, placement reasons, region checks, clean exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from localhelp import FIXTURES

CLI = [sys.executable, "-c", "from pcompile.cli.main import main; main()"]
LONG = str(FIXTURES / "cli_long_names.py")


def synth(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [*CLI, "synth", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def test_piped_table_is_160_wide_folds_cells_and_shows_reasons(tmp_path):
    table = synth(LONG, "--cloud", "aws", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "…" not in table.stdout and "..." not in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) == 160
    resources = json.loads(synth(LONG, "--cloud", "aws", "--json", cwd=tmp_path).stdout)["resources"]
    flat = table.stdout.replace("│", " ")
    for res in resources:
        assert res["name"] in flat  # whole, so two names never collide
    assert "CPU function within Lambda's limits" in table.stdout  # the placement's reason
    assert "Exception ignored" not in table.stderr


def test_gcp_placements_show_their_reason_and_a_project_hint(tmp_path):
    result = synth(LONG, "--cloud", "gcp", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "reason" in result.stdout and "Cloud Run" in result.stdout
    assert "--project" in result.stderr and "project:" in result.stderr
    quiet = synth(LONG, "--cloud", "gcp", "--project", "acme-prod", "--json", cwd=tmp_path)
    assert quiet.returncode == 0 and "project" not in quiet.stderr


def test_unknown_region_is_refused_with_the_fix(tmp_path):
    result = synth(LONG, "--cloud", "aws", "--region", "mars-1", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "'mars-1' is not a region of aws" in result.stderr and "us-east-1" in result.stderr
    typo = synth(LONG, "--cloud", "gcp", "--region", "us-centrl1", cwd=tmp_path)
    assert typo.returncode == 1 and "did you mean us-central1" in typo.stderr


def test_region_tables_hold_the_defaults_and_name_their_source():
    from pcompile.providers.aws import regions as aws
    from pcompile.providers.gcp import regions as gcp

    for table in (aws, gcp):
        assert table.DEFAULT in table.REGIONS and table.SOURCE.startswith("https://")
        assert list(table.REGIONS) == sorted(set(table.REGIONS))


def test_mock_runs_pause_the_collector_and_stack_capture_and_restore_both():
    """``run_mocked`` runs the program with the collector and Pulumi's per-registration
    stack capture off (the speed of synth), records the same inputs, and puts both back,
    also when the program fails."""
    import gc

    import pulumi
    import pytest
    from pulumi.runtime import resource as pulumi_resource

    from pcompile.providers.synth import run_mocked

    capture = pulumi_resource._get_stack_trace
    seen: dict[str, bool] = {}

    def program(fail: bool) -> None:
        seen.update(collector=gc.isenabled(), capture=pulumi_resource._get_stack_trace is capture)
        pulumi.CustomResource("test:index:Thing", "thing", {"size": 3, "tags": {"b": "2", "a": "1"}})
        if fail:
            raise ValueError("the program failed")

    result = run_mocked(lambda: program(False), project="p", stack="s", region="us-east-1")
    assert seen == {"collector": False, "capture": False}
    assert [r.to_json() for r in result.resources] == [
        {"type": "test:index:Thing", "name": "thing", "inputs": {"size": 3, "tags": {"a": "1", "b": "2"}}}
    ]
    assert gc.isenabled() and pulumi_resource._get_stack_trace is capture
    with pytest.raises(ValueError, match="the program failed"):
        run_mocked(lambda: program(True), project="p", stack="s", region="us-east-1")
    assert gc.isenabled() and pulumi_resource._get_stack_trace is capture
