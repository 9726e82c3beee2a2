"""``pcompile version`` (and ``--help``) start-up vs ``python -c "import typer, rich"``, as JSON.

Whole processes, measured in the same run and interleaved (yardstick, then each
command, five rounds), so load from other work on the machine hits both sides.
Reports the median, min and max of the five; the target is the median ratio
``version ÷ yardstick`` ≤ 2.0. Run: ``python benchmarks/cli_startup.py [--runs 5]``.
The children run without ``PYTHONDONTWRITEBYTECODE`` (set on the shared dev machine),
so both sides load cached bytecode as an installed pcompile does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

TARGET_RATIO = 2.0


def pcompile_command() -> list[str]:
    """The installed console script (what users run), else the same entry via ``-c``."""
    script = Path(sys.executable).with_name("pcompile")
    if script.exists():
        return [str(script)]
    found = shutil.which("pcompile")
    return [found] if found else [sys.executable, "-m", "pcompile.cli"]


def child_env() -> dict[str, str]:
    """This environment, less ``PYTHONDONTWRITEBYTECODE``: measure what users get."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(argv: list[str], cwd: str | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv, cwd=cwd, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
    )
    return time.perf_counter() - start


def interleaved(
    sides: dict[str, list[str]], runs: int, measure: Callable[[list[str]], float], warm: bool = True
) -> dict[str, list[float]]:
    """``runs`` rounds of every side in turn (load then hits all alike), after one uncounted
    run of each unless ``warm`` is off (it warms the file cache and the .pyc files)."""
    if warm:
        for argv in sides.values():
            measure(argv)
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(runs):
        for name, argv in sides.items():
            times[name].append(measure(argv))
    return times


def ratio(top: list[float], bottom: list[float]) -> tuple[float, list[float]]:
    """Median of ``top`` ÷ median of ``bottom``, and the min and max of the same-round ratios."""
    rounds = [t / b for t, b in zip(top, bottom, strict=True)]
    return statistics.median(top) / statistics.median(bottom), [round(min(rounds), 2), round(max(rounds), 2)]


def summary(seconds: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(seconds), 4),
        "min_s": round(min(seconds), 4),
        "max_s": round(max(seconds), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    cli = pcompile_command()
    sides = {
        "yardstick": [sys.executable, "-c", "import typer, rich"],
        "version": [*cli, "version"],
        "help": [*cli, "--help"],
    }
    times = interleaved(sides, opts.runs, wall)
    version, spread = ratio(times["version"], times["yardstick"])
    report = {
        "benchmark": "cli_startup",
        "runs": opts.runs,
        "yardstick": summary(times["yardstick"]),
        "version": summary(times["version"]),
        "help": summary(times["help"]),
        "version_ratio": round(version, 2),
        "version_ratio_min_max": spread,
        "help_ratio": round(ratio(times["help"], times["yardstick"])[0], 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "target_ratio": TARGET_RATIO,
        "within_target": version <= TARGET_RATIO,
    }
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
