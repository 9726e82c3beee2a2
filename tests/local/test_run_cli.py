"""``pcompile run`` end to end on Modal-shaped programs, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from localhelp import FIXTURES

CLI = [sys.executable, "-c", "from pcompile.cli.main import main; main()"]


def pcompile(tmp_path: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``tmp_path`` with its own local state."""
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local")}
    return subprocess.run(
        [*CLI, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_fixture(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = pcompile(tmp_path, "run", str(FIXTURES / name), *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_hello_world(tmp_path):
    out = run_fixture(tmp_path, "local_hello_world.py")
    example = pcompile(tmp_path, "run", str(FIXTURES.parent.parent / "examples" / "hello_world.py"))
    assert example.returncode == 0 and sorted(example.stdout.splitlines()) == sorted(out.stdout.splitlines())
    lines = out.stdout.splitlines()
    assert lines[0] == "hello 1000"  # .local() runs here, unprefixed
    assert "[f] hello 1000" in lines and lines.count("1000000") == 2
    # Worker log lines stream concurrently with the entrypoint's own output (as on Modal),
    # so only the entrypoint's lines have a fixed order.
    own = [line for line in lines if not line.startswith("[")]
    assert own[-1] == str(sum(i * i for i in range(200)))
    assert "[f] world 199" in out.stderr and "App completed" in out.stderr


def test_parallel_execution_spawn_gather_and_remote_value_error(tmp_path):
    out = run_fixture(tmp_path, "local_parallel_execution.py").stdout
    assert "gathered [0, 10, 20, 30]" in out
    assert "from_id 0" in out
    assert "caught ValueError: negative input -1" in out
    assert "with exceptions [10, 'ValueError', 30]" in out


def test_grid_search_maps_over_app_image(tmp_path):
    out = run_fixture(tmp_path, "local_grid_search.py").stdout
    assert "best score 1.0 with k 6 weight 0.5" in out


def test_generators(tmp_path):
    out = run_fixture(tmp_path, "local_generators.py").stdout
    assert out.split() == [str(i) for i in range(10)]


def test_dynamic_batching(tmp_path):
    result = run_fixture(tmp_path, "local_dynamic_batching.py")
    assert "sum 9900" in result.stdout and "product 328350" in result.stdout
    assert "[batch_add] batch of 4" in result.stdout


def test_semantics_options_retries_big_args_resources(tmp_path):
    created = pcompile(tmp_path, "secret", "create", "local-sem-secret", "TOKEN=s3cr3t-value")
    assert created.returncode == 0 and "s3cr3t-value" not in created.stdout
    args = ["--count", "3", "--verbose", "--name", "bob", "--mode", "slow", "--day", "2025-02-03"]
    out = run_fixture(tmp_path, "local_semantics.py", *args, "--tmp", str(tmp_path)).stdout
    assert "options 3 0.5 True bob slow 2025-02-03" in out
    assert "ok after 3 attempts" in out
    assert "big:8388608" in out
    assert "hola/s3cr3t-value" in out
    assert "volume weights v1 ['note.txt']" in out
    assert "dict weights v1 queue WEIGHTS V1" in out
    assert "queue empty" in out and "model 6" in out
    listing = pcompile(tmp_path, "secret", "list")
    assert "local-sem-secret\tTOKEN" in listing.stdout and "s3cr3t" not in listing.stdout
    mode = (tmp_path / "local" / "secrets" / "local-sem-secret.json").stat().st_mode & 0o777
    assert mode == 0o600


def test_bad_option_is_a_clear_error(tmp_path):
    result = pcompile(
        tmp_path, "run", str(FIXTURES / "local_semantics.py"), "--mode", "medium", "--count", "1"
    )
    assert result.returncode == 1
    assert "medium" in result.stderr and "Traceback" not in result.stderr


def test_remote_error_shows_remote_traceback_when_verbose(tmp_path):
    ref = str(FIXTURES / "local_parallel_execution.py") + "::step"
    result = pcompile(tmp_path, "run", "--verbose", ref, "--i", "-5")
    assert result.returncode == 1
    assert "Remote traceback" in result.stderr and "ValueError: negative input -5" in result.stderr
    assert "local_parallel_execution.py" in result.stderr
    env_full = subprocess.run(
        [*CLI, "run", ref, "--i", "-5"],
        cwd=tmp_path,
        env={**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"), "PCOMPILE_TRACEBACK": "full"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "Remote traceback" in env_full.stderr and "cli/run.py" in env_full.stderr


def test_remote_error_two_calls_deep_shows_the_users_frames_in_15_lines(tmp_path):
    result = pcompile(tmp_path, "run", str(FIXTURES / "local_deep_error.py"))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Traceback"))
    shown = lines[start:]
    assert len(shown) <= 15, result.stderr
    path = str(FIXTURES / "local_deep_error.py")
    frames = [line.strip() for line in shown if line.startswith('  File "')]
    # every frame of the user's, outermost call first, and nothing of pcompile's
    assert frames == [
        f'File "{path}", line {n}, in {fn}'
        for n, fn in ((26, "main"), (21, "outer"), (16, "inner"), (10, "check"))
    ]
    assert shown[-1] == "ValueError: negative input -3"


def test_entrypoint_calls_its_own_web_endpoints(tmp_path):
    from servers import free_port

    env = {
        **os.environ,
        "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"),
        "RUN_SERVER_PORT": str(free_port()),
        "PCOMPILE_IMAGE_ENV": "0",
    }
    result = subprocess.run(
        [*CLI, "run", str(FIXTURES / "local_run_web.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "greet says {'hello': 'run'}" in result.stdout
    assert "server answers 200" in result.stdout
    assert "Web endpoint greet => http://127.0.0.1:" in result.stderr


def test_missing_secret_fails_before_anything_runs(tmp_path):
    result = pcompile(tmp_path, "run", str(FIXTURES / "local_missing_secret.py"))
    assert result.returncode == 1
    assert "entrypoint started" not in result.stdout
    assert "local-absent-secret" in result.stderr and "pcompile secret create" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_required_keys_name_the_keys_not_values(tmp_path):
    assert pcompile(tmp_path, "secret", "create", "local-absent-secret", "X=1").returncode == 0
    made = pcompile(tmp_path, "secret", "create", "local-partial-secret", "API_KEY=do-not-print")
    assert made.returncode == 0
    result = pcompile(tmp_path, "run", str(FIXTURES / "local_missing_secret.py"))
    assert result.returncode == 1
    assert "OTHER" in result.stderr and "do-not-print" not in result.stderr + result.stdout


def test_volume_cli_round_trip(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"\x00\x01weights")
    assert pcompile(tmp_path, "volume", "put", "models", "w.bin", "/ckpt/").returncode == 0
    listing = pcompile(tmp_path, "volume", "ls", "models", "/ckpt")
    assert listing.stdout.split() == ["ckpt/w.bin", "9"]
    got = pcompile(tmp_path, "volume", "get", "models", "ckpt/w.bin", str(tmp_path / "back.bin"))
    assert got.returncode == 0 and (tmp_path / "back.bin").read_bytes() == b"\x00\x01weights"


def test_plain_script_with_app_run_and_aio_forms(tmp_path):
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local")}
    result = subprocess.run(
        [sys.executable, str(FIXTURES / "local_script.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "remote 16",
        "aio (9, [1, 4, 9], 8, 25)",
        "for_each None",
        "starmap [1, 4]",
        "unordered [0, 1, 4, 9, 16]",
        "two iterators [(11, 1), (22, 1)]",
        "kwargs [(0, 2), (2, 2), (4, 2)]",
        "starmap kwargs [(6, 1), (12, 1)]",
        "same object {2} [1]",
        f"generator {sum(x * x for x in range(5000))}",
        "spawn_map [(5, 1), (10, 1)]",
    ]


def test_dotenv_secret_reaches_the_function(tmp_path):
    (tmp_path / ".env").write_text('# comment\nDOTENV_KEY=from-file\nexport QUOTED="a b"\n')
    out = run_fixture(tmp_path, "local_dotenv.py").stdout
    assert "('from-file', 'a b')" in out


def test_missing_required_option_is_named(tmp_path):
    result = pcompile(tmp_path, "run", str(FIXTURES / "local_semantics.py"))
    assert result.returncode == 1 and "Missing option '--count'" in result.stderr


def test_option_help_lists_the_signature(tmp_path):
    result = pcompile(tmp_path, "run", str(FIXTURES / "local_semantics.py"), "--help")
    assert result.returncode == 0
    for expected in ("--count INTEGER", "--verbose / --no-verbose", "--mode [fast|slow]", "--day"):
        assert expected in result.stdout


def test_functions_call_other_functions_from_workers(tmp_path):
    assert "nested 285" in run_fixture(tmp_path, "local_nested.py").stdout


def test_logs_of_a_local_run_are_read_back_by_pcompile_logs(tmp_path):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "local.yaml").write_text("cloud: local\n")
    (tmp_path / "app.py").write_text((FIXTURES / "local_hello_world.py").read_text())
    assert pcompile(tmp_path, "run", "app.py").returncode == 0
    assert pcompile(tmp_path, "deploy", "app.py", "--stack", "local").returncode == 0
    logs = pcompile(tmp_path, "logs", "f", "--stack", "local", "--limit", "500")
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    # Both streams of the worker land in the function's log, without the terminal prefix.
    assert "hello 198" in lines and "world 199" in lines
    assert not any(line.startswith("[f]") for line in lines)
