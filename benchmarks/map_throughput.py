"""Local map throughput vs ``multiprocessing.Pool(2)``, printed as JSON.

Each round runs 10,000 trivial inputs three ways on warm workers (every side runs
a small map first, so process start-up is not counted): ``square.map(range(N))`` of
an ``@app.function(max_containers=2)`` under ``with app.run():`` (the SDK call a user
makes, on the local provider's 2 workers), ``Pool(2).map`` with its default chunking, and
``Pool(2).imap(chunksize=1)``. The figures are the median, min and max over the
rounds of each side's inputs/s and of the two same-round ratios (local ÷
``Pool.map``, target ≥ 0.3; local ÷ ``imap(chunksize=1)``, target ≥ 5).
Run: ``python benchmarks/map_throughput.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import pcompile as modal

N = 10_000
TARGETS = {"vs_pool_map": 0.3, "vs_imap_chunksize1": 5.0}
app = modal.App("bench-map")


def square(x: int) -> int:
    return x * x


# the same function as the app's (the workers import this file): Pool gets the plain one
remote_square = app.function(max_containers=2, timeout=300, name="square")(square)


def _rate(run: Callable[[], list[int]]) -> float:
    start = time.perf_counter()
    out = run()
    elapsed = time.perf_counter() - start
    assert len(out) == N and out[-1] == (N - 1) ** 2
    return N / elapsed


def _spread(values: list[float], digits: int = 2) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def measure(runs: int) -> dict[str, Any]:
    """``runs`` interleaved rounds of the three maps on warm workers."""
    from pcompile import _invocation

    rates: dict[str, list[float]] = {"local": [], "pool_map": [], "imap1": []}
    with app.run(), multiprocessing.Pool(2) as mp:
        list(remote_square.map(range(2000)))  # warm: workers and chunk size
        mp.map(square, range(2000))
        for _ in range(runs):
            rates["pool_map"].append(_rate(lambda: mp.map(square, range(N))))
            rates["imap1"].append(_rate(lambda: list(mp.imap(square, range(N), chunksize=1))))
            rates["local"].append(_rate(lambda: list(remote_square.map(range(N)))))
        pool = next(iter(_invocation.backend()._pools.values()))  # type: ignore[attr-defined]
        workers, chunk = len(pool.workers), pool.chunk_size
    ratios = {
        "vs_pool_map": [a / b for a, b in zip(rates["local"], rates["pool_map"], strict=True)],
        "vs_imap_chunksize1": [a / b for a, b in zip(rates["local"], rates["imap1"], strict=True)],
    }
    return {
        "local_map_inputs_per_s": _spread(rates["local"], 0),
        "multiprocessing_pool2_map_inputs_per_s": _spread(rates["pool_map"], 0),
        "multiprocessing_pool2_imap_chunksize1_inputs_per_s": _spread(rates["imap1"], 0),
        "ratio_vs_pool_map": _spread(ratios["vs_pool_map"]),
        "ratio_vs_imap_chunksize1": _spread(ratios["vs_imap_chunksize1"]),
        "targets": TARGETS,
        "met": {k: statistics.median(v) >= TARGETS[k] for k, v in ratios.items()},
        "local_workers": workers,
        "local_chunk_size": chunk,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    os.environ.setdefault("PCOMPILE_LOCAL_DIR", tempfile.mkdtemp(prefix="pcompile-bench-"))
    os.environ.setdefault("PCOMPILE_IMAGE_ENV", "0")
    load_before = os.getloadavg()[0]
    result: dict[str, Any] = {"benchmark": "map_throughput", "inputs": N, "runs": opts.runs}
    result.update(measure(opts.runs))
    result.update(
        cpus=os.cpu_count(),
        load_average_1min=[round(load_before, 2), round(os.getloadavg()[0], 2)],  # before, after
        python=sys.version.split()[0],
    )
    print(json.dumps(result, sort_keys=True, indent=2))
    sys.exit(0 if all(result["met"].values()) else 1)


if __name__ == "__main__":
    main()
