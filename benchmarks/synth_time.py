"""Synthesis time of a 100-function app on AWS (target: under 10 s), printed as JSON.

    python benchmarks/synth_time.py [--functions 100]

The app is built as IR directly (one function in ten on a T4, so Batch compute is
part of the graph) and run through ``providers.synth.synthesize("aws", ...)``, the
same path as ``pcompile synth --cloud aws``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from pcompile.compiler.ir import AppSpec, FunctionSpec, GpuSpec, ImageSpec, ImageStep, Source
from pcompile.providers.settings import StackSettings
from pcompile.providers.synth import synthesize

IMAGE = ImageSpec(id="im-benchmark", base=ImageStep("debian_slim", {"python_version": "3.11"}))


def app_of(count: int) -> AppSpec:
    """``count`` functions; every tenth asks for a T4."""
    functions = tuple(
        FunctionSpec(
            name=f"f{i:04d}",
            module="bench",
            qualname=f"f{i:04d}",
            source=Source("bench.py", 10 + i),
            image=IMAGE.id,
            gpu=GpuSpec("T4") if i % 10 == 0 else None,
        )
        for i in range(count)
    )
    return AppSpec(name="bench", functions=functions, images=(IMAGE,))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--functions", type=int, default=100)
    opts = parser.parse_args()
    settings = StackSettings(name="bench", cloud="aws", region="us-east-1")
    # A one-function warm-up loads pulumi_aws's lazily imported modules; reported apart.
    start = time.perf_counter()
    synthesize("aws", app_of(1), settings)
    warmup = time.perf_counter() - start
    app = app_of(opts.functions)
    start, cpu = time.perf_counter(), time.process_time()
    out = synthesize("aws", app, settings)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    report = {
        "benchmark": "aws_synth_time",
        "functions": opts.functions,
        "resources": len(out.result.resources),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "warmup_seconds": round(warmup, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "target_seconds": 10,
        "within_target": seconds < 10,
    }
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
