"""``pcompile synth --cloud aws --json`` of a 100-function app ÷ the same of a 1-function app, as JSON.

Whole processes, measured in the same run and interleaved (1-function app, then the
100-function app, five rounds), so load from other work on the machine hits both
sides. Both apps are written to a temporary folder; in the large one every third
function asks for a T4, so Batch compute (network, compute environments, queues) is
part of the graph. Reports the median, min and max of the five; the target is the
median ratio ``100 functions ÷ 1 function`` ≤ 2.0: each added function should cost
little next to start-up. Run: ``python benchmarks/synth_ratio.py [--runs 5] [--functions 100]``.
The children run without ``PYTHONDONTWRITEBYTECODE`` (see ``cli_startup.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from cli_startup import child_env, interleaved, pcompile_command, ratio, summary

TARGET_RATIO = 2.0


def app_source(count: int) -> str:
    """A Modal-style app of ``count`` functions; every third (from the first) on a T4."""
    lines = ["import modal", "", 'app = modal.App("synth-ratio")', ""]
    for i in range(count):
        gpu = ', gpu="T4"' if i % 3 == 0 else ""
        lines += [
            "",
            f"@app.function(timeout=60{gpu})",
            f"def f{i:03d}(x: int) -> int:",
            f"    return x + {i}",
            "",
        ]
    return "\n".join(lines)


def synth_wall(argv: list[str], cwd: str) -> tuple[float, int]:
    """Seconds of one whole ``pcompile synth`` process, and the resources it printed."""
    start = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True
    )
    seconds = time.perf_counter() - start
    return seconds, len(json.loads(done.stdout)["resources"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--functions", type=int, default=100)
    opts = parser.parse_args()
    cli = pcompile_command()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "one.py").write_text(app_source(1))
        (Path(tmp) / "many.py").write_text(app_source(opts.functions))
        sides = {
            "one": [*cli, "synth", "one.py", "--cloud", "aws", "--json"],
            "many": [*cli, "synth", "many.py", "--cloud", "aws", "--json"],
        }
        resources = {name: synth_wall(argv, tmp)[1] for name, argv in sides.items()}  # warm-up
        times = interleaved(sides, opts.runs, lambda argv: synth_wall(argv, tmp)[0], warm=False)
    many, spread = ratio(times["many"], times["one"])
    report = {
        "benchmark": "synth_ratio",
        "runs": opts.runs,
        "functions": opts.functions,
        "resources": resources,
        "one": summary(times["one"]),
        "many": summary(times["many"]),
        "ratio": round(many, 2),
        "ratio_min_max": spread,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "target_ratio": TARGET_RATIO,
        "within_target": many <= TARGET_RATIO,
    }
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
