"""Local map throughput vs ``multiprocessing.Pool(2).imap(chunksize=1)``, printed as JSON.

Both run 10,000 trivial inputs on warm workers (each side runs a small map first,
so process start-up is not counted). Run: ``python benchmarks/map_throughput.py``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

N = 10_000
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def square(x: int) -> int:
    return x * x


def pool_throughput() -> float:
    with multiprocessing.Pool(2) as pool:
        list(pool.imap(square, range(100), chunksize=1))
        start = time.perf_counter()
        out = list(pool.imap(square, range(N), chunksize=1))
        elapsed = time.perf_counter() - start
    assert out[-1] == (N - 1) ** 2
    return N / elapsed


def local_throughput() -> tuple[float, int]:
    from pcompile.providers.invoker import Target
    from pcompile.providers.local.invoker import LocalInvoker

    spec = {
        "name": "square",
        "module": "local_plain",
        "qualname": "square",
        "timeout": 300,
        "max_containers": 2,
    }
    spec["retries"] = {"max_retries": 0}
    with LocalInvoker({"name": "bench", "functions": [spec]}, root=str(FIXTURES), progress=False) as inv:
        target = Target("bench", "square")
        flags = {"order_outputs": True, "return_exceptions": False, "wrap_returned_exceptions": True}
        list(inv.map(target, [((i,), {}) for i in range(2000)], **flags))
        start = time.perf_counter()
        out = list(inv.map(target, [((i,), {}) for i in range(N)], **flags))
        elapsed = time.perf_counter() - start
        workers = sum(len(p.workers) for p in inv._pools.values())
    assert out[-1] == (N - 1) ** 2
    return N / elapsed, workers


def main() -> None:
    os.environ.setdefault("PCOMPILE_LOCAL_DIR", tempfile.mkdtemp(prefix="pcompile-bench-"))
    baseline = pool_throughput()
    local, workers = local_throughput()
    result = {
        "benchmark": "map_throughput",
        "inputs": N,
        "cpus": os.cpu_count(),
        "local_map_inputs_per_s": round(local),
        "local_workers": workers,
        "multiprocessing_pool2_imap_chunksize1_inputs_per_s": round(baseline),
        "ratio": round(local / baseline, 2),
        "python": sys.version.split()[0],
    }
    print(json.dumps(result, sort_keys=True, indent=2))


if __name__ == "__main__":
    main()
