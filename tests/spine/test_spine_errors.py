"""Every user mistake of issue 2 (Build 5) through the real CLI: exit 1, ``file:line``, value, fix, no traceback.

Each case is a small program; the offending line is marked ``# <-`` so expected
line numbers are computed from the text, never hard-coded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from spine_kit import run_cli

HEADER = "import modal\n\napp = modal.App('errors')\n\n"


def fn(decorator: str, body: str = "    pass\n") -> str:
    """A program whose one function carries ``decorator`` (the marked line)."""
    return HEADER + f"{decorator}  # <-\ndef f():\n{body}"


# (id, program, substrings the message must contain: the bad value and the fix)
CASES: list[tuple[str, str, list[str]]] = [
    (
        "cron-hour",
        fn('@app.function(schedule=modal.Cron("0 25 * * *"))'),
        ["'0 25 * * *'", "hour", "0-23", "fix: the hour field takes values 0-23"],
    ),
    (
        "cron-fields",
        fn('@app.function(schedule=modal.Cron("0 2 * *"))'),
        ["'0 2 * *'", "expected 5 fields", "fix:"],
    ),
    (
        "cron-minute",
        fn('@app.function(schedule=modal.Cron("*/0 * * * *"))'),
        ["'*/0 * * * *'", "minute", "step of 0"],
    ),
    (
        "cron-timezone",
        fn('@app.function(schedule=modal.Cron("0 2 * * *", timezone="Mars/Olympus"))'),
        ["'Mars/Olympus'", "IANA"],
    ),
    ("gpu-typo-letter-o", fn('@app.function(gpu="A10O")'), ["'A10O'", 'did you mean gpu="A100"?']),
    ("gpu-typo-short", fn('@app.function(gpu="H10")'), ["'H10'", 'did you mean gpu="H100"?']),
    ("gpu-unknown", fn('@app.function(gpu="banana")'), ["'banana'", "known types:", "H100"]),
    ("gpu-fallback-typo", fn('@app.function(gpu=["H100", "A1OO"])'), ["'A1OO'", 'did you mean gpu="A100"?']),
    ("gpu-count-zero", fn('@app.function(gpu="H100:0")'), ["'H100:0'", "from 1 to 8"]),
    ("gpu-count-nine", fn('@app.function(gpu="H100:9")'), ["'H100:9'", "from 1 to 8"]),
    ("gpu-count-text", fn('@app.function(gpu="H100:x")'), ["'H100:x'", "from 1 to 8"]),
    (
        "mount-relative",
        HEADER
        + 'vol = modal.Volume.from_name("v")\n\n@app.function(volumes={"data": vol})  # <-\ndef f():\n    pass\n',
        ["'data'", "absolute", "'/data'"],
    ),
    *[
        (
            f"mount-{path.strip('/') or 'root-dir'}",
            HEADER
            + f'vol = modal.Volume.from_name("v")\n\n@app.function(volumes={{"{path}": vol}})  # <-\n'
            + "def f():\n    pass\n",
            [repr(path), "reserved", "'/data'"],
        )
        for path in ("/", "/root", "/tmp", "/root/")
    ],
    (
        "mount-cls",
        HEADER
        + 'vol = modal.Volume.from_name("v")\n\n@app.cls(volumes={"/tmp": vol})  # <-\nclass C:\n    pass\n',
        ["'/tmp'", "reserved"],
    ),
    (
        "duplicate-name",
        HEADER
        + '@app.function(name="x")\ndef f():\n    pass\n\n\n@app.function(name="x")  # <-\ndef g():\n    pass\n',
        ["duplicate function name 'x'", "app.py:5", "name=..."],
    ),
    (
        "retries-max-delay",
        fn("@app.function(retries=modal.Retries(max_retries=1, max_delay=120))"),
        ["max_delay=120", "between 1 and 60"],
    ),
    (
        "retries-backoff",
        fn("@app.function(retries=modal.Retries(max_retries=1, backoff_coefficient=20))"),
        ["backoff_coefficient=20", "between 1.0 and 10.0"],
    ),
    (
        "retries-initial-delay",
        fn("@app.function(retries=modal.Retries(max_retries=1, initial_delay=-1))"),
        ["initial_delay=-1", "between 0 and 60"],
    ),
    (
        "retries-negative",
        fn("@app.function(retries=modal.Retries(max_retries=-1))"),
        ["max_retries=-1", ">= 0"],
    ),
    ("retries-int", fn("@app.function(retries=11)"), ["retries=11", "between 0 and 10"]),
    (
        "timeout-zero",
        fn("@app.function(timeout=0)"),
        ["timeout=0", "positive number of seconds", "timeout=300"],
    ),
    ("timeout-negative", fn("@app.function(timeout=-5)"), ["timeout=-5", "positive number of seconds"]),
    ("timeout-none", fn("@app.function(timeout=None)"), ["timeout=None", "e.g. timeout="]),
    (
        "cls-timeout-zero",
        HEADER + "@app.cls(timeout=0)  # <-\nclass C:\n    pass\n",
        ["timeout=0", "positive"],
    ),
    (
        "web-retries",
        HEADER + "@app.function(retries=3)  # <-\n@modal.fastapi_endpoint(method='POST')\ndef f(x: dict):\n"
        "    return x\n",
        ["web endpoint", "retries", "remove retries="],
    ),
    (
        "cls-web-retries",
        HEADER + "@app.cls(retries=2)  # <-\nclass C:\n    @modal.fastapi_endpoint()\n    def web(self):\n"
        "        return 1\n",
        ["C.web", "web endpoint", "retries", "remove retries="],
    ),
    ("no-parentheses", fn("@app.function"), ["Did you forget parentheses?", "@app.function()"]),
    (
        "no-parentheses-cls",
        HEADER + "@app.cls  # <-\nclass C:\n    pass\n",
        ["Did you forget parentheses?", "@app.cls()"],
    ),
    (
        "no-parentheses-method",
        HEADER + "@app.cls()\nclass C:\n    @modal.method  # <-\n    def m(self):\n        pass\n",
        ["Did you forget parentheses?", "@modal.method()"],
    ),
    (
        "syntax-error",
        HEADER + "def f(:  # <-\n    pass\n",
        ["syntax error", "invalid syntax", "fix the syntax"],
    ),
    (
        "import-error",
        "import modal\nimport not_a_real_package_xyz  # <-\n\napp = modal.App('errors')\n",
        ["No module named 'not_a_real_package_xyz'", "image.imports()"],
    ),
    (
        "runtime-error-at-import",
        HEADER + "CONFIG = {}\nMODEL = CONFIG['model']  # <-\n",
        ["KeyError", "'model'"],
    ),
    (
        "dotenv-missing",
        HEADER + 'env = modal.Secret.from_dotenv(__file__, filename="missing.env")  # <-\n\n'
        "@app.function(secrets=[env])\ndef f():\n    pass\n",
        ["missing.env", "does not exist", "fix: create the file"],
    ),
    (
        "generator-retries",
        fn("@app.function(retries=2)", "    yield 1\n"),
        ["generator functions cannot have retries", "remove retries="],
    ),
    (
        "web-generator",
        HEADER + "@app.function()  # <-\n@modal.fastapi_endpoint()\ndef f():\n    yield 1\n",
        ["web endpoint cannot be a generator", "StreamingResponse"],
    ),
    (
        "cron-timezone-type",
        fn('@app.function(schedule=modal.Cron("0 2 * * *", timezone=None))'),
        ["timezone=None", "IANA"],
    ),
    ("min-containers-negative", fn("@app.function(min_containers=-1)"), ["min_containers=-1", ">= 0"]),
    (
        "duplicate-label",
        HEADER + "@app.function()\n@modal.fastapi_endpoint(label='api')\ndef f():\n    pass\n\n\n"
        "@app.function()  # <-\n@modal.fastapi_endpoint(label='api')\ndef g():\n    pass\n",
        ["web label 'api' is used twice", "app.py:5", "label="],
    ),
    ("unknown-keyword", fn('@app.function(gpus="A100")'), ["'gpus'", "did you mean gpu=...?"]),
    (
        "max-containers-zero",
        fn("@app.function(max_containers=0)"),
        ["max_containers=0", "can never run", "max_containers=1"],
    ),
    (
        "cls-max-containers-zero",
        HEADER + "@app.cls(max_containers=0)  # <-\nclass C:\n    pass\n",
        ["max_containers=0", "max_containers=1"],
    ),
    (
        "app-twice-same-variable",
        HEADER + "@app.function()\ndef f():\n    pass\n\n\napp = modal.App('errors')  # <-\n\n\n"
        "@app.function()\ndef g():\n    pass\n",
        ["modal.App('errors') is created twice", "first at app.py:3", "create the App once"],
    ),
    (
        "app-twice-two-variables",
        HEADER + "other = modal.App('errors')  # <-\n",
        ["modal.App('errors') is created twice", "first at app.py:3", "another name"],
    ),
    (
        "sys-exit-at-import",
        "import sys\n\nimport modal\n\napp = modal.App('errors')\nsys.exit(3)  # <-\n",
        ["sys.exit(3)", "while pcompile was importing it", '__name__ == "__main__"'],
    ),
    (
        "function-on-class",
        HEADER + "@app.function()  # <-\nclass C:\n    pass\n",
        ["class C", "@app.cls()"],
    ),
]


def marked_line(source: str) -> int:
    """The 1-based line carrying the ``# <-`` marker."""
    (line,) = [n for n, text in enumerate(source.splitlines(), start=1) if "# <-" in text]
    return line


@pytest.mark.parametrize("source,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_user_error_is_one_message_at_the_users_line(
    source: str, expected: list[str], write_app: Callable[..., Path]
) -> None:
    path = write_app(source)
    proc = run_cli("synth", str(path), "--ir", cwd=path.parent)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: app.py:"), proc.stderr
    assert f"app.py:{marked_line(source)}:" in proc.stderr, proc.stderr
    for text in expected:
        assert text in proc.stderr, (text, proc.stderr)


def test_error_in_an_imported_local_module_names_that_file(write_app: Callable[..., Path]) -> None:
    write_app("VALUE = 1\nBROKEN = VALUE +\n", name="helpers.py")
    path = write_app("import modal\nimport helpers\n\napp = modal.App('errors')\n")
    proc = run_cli("synth", str(path), "--ir", cwd=path.parent)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "helpers.py:2:" in proc.stderr and "syntax error" in proc.stderr


def test_several_compile_errors_are_reported_together(write_app: Callable[..., Path]) -> None:
    source = HEADER + (
        '@app.function(gpu="H100:9")  # <-\ndef f():\n    pass\n\n\n'
        '@app.function(schedule=modal.Cron("61 * * * *"))\ndef g():\n    pass\n'
    )
    proc = run_cli("synth", str(write_app(source)), "--ir")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "app.py:5:" in proc.stderr and "app.py:10:" in proc.stderr


def test_missing_file_and_no_app(write_app: Callable[..., Path], tmp_path: Path) -> None:
    proc = run_cli("synth", str(tmp_path / "nope.py"), "--ir")
    assert proc.returncode == 1 and "no such file" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("synth", str(write_app("import modal\n")), "--ir")
    assert proc.returncode == 1 and "defines no modal.App" in proc.stderr and "modal.App(" in proc.stderr


def test_duplicate_name_across_an_included_app(write_app: Callable[..., Path]) -> None:
    write_app(
        "import modal\n\nother = modal.App('other')\n\n\n@other.function()\ndef work():\n    pass\n", "lib.py"
    )
    source = (
        "import modal\nfrom lib import other\n\napp = modal.App('main')\napp.include(other)\n\n\n"
        "@app.function()  # <-\ndef work():\n    pass\n"
    )
    proc = run_cli("synth", f"{write_app(source)}::app", "--ir")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"app.py:{marked_line(source)}:" in proc.stderr
    assert "duplicate function name 'work'" in proc.stderr and "lib.py:6" in proc.stderr


def test_cpu_only_batch_function_too_big_for_any_instance(write_app: Callable[..., Path]) -> None:
    source = fn("@app.function(cpu=1000, memory=10**7)")
    proc = run_cli("synth", str(write_app(source)), "--cloud", "aws", "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"app.py:{marked_line(source)}:" in proc.stderr
    for text in ("1000 vCPUs", "10000000 MiB", "at most 128 vCPUs", "cpu=128, memory=1048576"):
        assert text in proc.stderr, (text, proc.stderr)


def test_cpu_only_batch_function_that_fits_is_placed(write_app: Callable[..., Path]) -> None:
    proc = run_cli(
        "synth", str(write_app(fn("@app.function(cpu=64, memory=400_000)"))), "--cloud", "aws", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert '"target": "batch"' in proc.stdout


@pytest.mark.parametrize("extra", [["--ir"], ["--cloud", "aws"]])
def test_unwritable_out_is_one_line_without_traceback(
    extra: list[str], write_app: Callable[..., Path], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = run_cli("synth", str(write_app(fn("@app.function()"))), *extra, "--out", str(blocker / "out"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"error: cannot write --out {blocker / 'out'}"), proc.stderr
    assert "fix: pass --out a path in a folder you can write" in proc.stderr
