"""``pcompile run`` of one ``.remote()`` vs ``multiprocessing.Pool(1)`` applying one call, as JSON.

Whole processes, measured in the same run and interleaved, five rounds: the app
(written to a temporary folder) has one function and a local_entrypoint that calls
``square.remote(3)``; it runs with ``pcompile run --no-image-env``. The yardstick is
``python -c`` that starts ``multiprocessing.Pool(1)`` and applies one call. Target:
median ratio ≤ 5. Run: ``python benchmarks/run_startup.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from cli_startup import interleaved, pcompile_command, ratio, summary, wall

TARGET_RATIO = 5.0

APP = """\
import modal

app = modal.App("run-startup")


@app.function()
def square(x: int) -> int:
    return x * x


@app.local_entrypoint()
def main():
    assert square.remote(3) == 9
"""

POOL = """\
import multiprocessing

if __name__ == "__main__":
    with multiprocessing.Pool(1) as pool:
        assert pool.apply(abs, (-3,)) == 3
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "app.py").write_text(APP)
        (Path(tmp) / "pool.py").write_text(POOL)
        sides = {
            "yardstick": [sys.executable, "pool.py"],
            "run": [*pcompile_command(), "run", "--no-image-env", "app.py"],
        }
        times = interleaved(sides, opts.runs, lambda argv: wall(argv, cwd=tmp))
    run, spread = ratio(times["run"], times["yardstick"])
    report = {
        "benchmark": "run_startup",
        "runs": opts.runs,
        "yardstick": summary(times["yardstick"]),
        "run": summary(times["run"]),
        "run_ratio": round(run, 2),
        "run_ratio_min_max": spread,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "target_ratio": TARGET_RATIO,
        "within_target": run <= TARGET_RATIO,
    }
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
