"""Control-plane requests of a cloud ``.map``, per target, counted against the emulators.

Each target's map runs through the production invoker, as ``Function.map`` drives it,
on the contract suite's backends (``tests/contract/contract_kit.py``):

* ``lambda`` and ``batch``: moto holding what the AWS program emits, the simulated
  compute service running ``python -m pcompile.runtime lambda|batch`` from it;
* ``cloudrun`` and ``gcpbatch``: gcp-storage-emulator holding the synthesized buckets,
  manifest and job templates, ``python -m pcompile.runtime http`` per Cloud Run
  service, GCP Batch tasks as ``python -m pcompile.runtime gcpbatch`` subprocesses.

Requests are counted at the invoker's real clients (botocore ``before-call`` events;
the GCS client's ``requests`` hook; the Cloud Run HTTP and Batch clients), sorted into
``control`` (what hands work over: staging puts, ``Invoke``, ``SubmitJob``,
``POST /invoke``, ``jobs.create``), ``reads`` (result objects fetched) and ``polls``
(listings and status checks while waiting). The target of issue 17: at most one
control-plane request per 50 inputs of a 10,000-input map on every target, and at most
60 for a 100,000-input Batch map.

    python benchmarks/cloud_map_requests.py [--inputs 10000] [--batch-inputs 100000]
        [--targets lambda,batch,cloudrun,gcpbatch] [--max-tasks 16]

``--max-tasks`` bounds the tasks of a Batch map (the deployed default is 64 on AWS and
100 on GCP): every task is a process on this 2-core machine. The control-plane count
does not depend on it (inputs are staged as at most 16 objects); polling does.

A GCP Batch task writes one result object per input, which the storage emulator takes
minutes to absorb at 10,000 inputs on this machine; past ``--gcpbatch-full`` inputs
(default 2,000) the GCP Batch figure counts the control-plane requests of the map's
start (``spawn_map``, the same staging and ``jobs.create`` that ``map`` makes; the job
is then cancelled) and the full map, results read back, runs at ``--gcpbatch-full``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {  # target -> (backend, function of the contract app)
    "lambda": ("aws", "square"),
    "batch": ("aws", "batch_even_square"),
    "cloudrun": ("gcp", "square"),
    "gcpbatch": ("gcp", "batch_even_square"),
}
PER_REQUEST_TARGET = 50
BATCH_100K_LIMIT = 60


def _kit() -> Any:
    """The contract suite's backends (its folder and ``tests/`` on the path, as pytest has them)."""
    for folder in (ROOT / "tests", ROOT / "tests" / "contract"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    from pcompile.testing import modal_alias

    with modal_alias():
        import contract_app  # noqa: F401  (the user's module, as in the suite's conftest)
    import contract_kit

    return contract_kit


def measure(kit: Any, backend: Any, function: str, inputs: int, max_tasks: int | None) -> dict[str, Any]:
    """One map of ``inputs`` even numbers; its requests, seconds and correctness."""
    values = list(range(0, 2 * inputs, 2))
    limit = backend.max_tasks(max_tasks) if max_tasks else contextlib.nullcontext()
    start = time.perf_counter()
    with limit, kit.counting(backend) as seen:
        items = [((v,), {}) for v in values]
        flags = {"order_outputs": True, "return_exceptions": False, "wrap_returned_exceptions": False}
        out = list(backend.invoker.map(backend.target(function), items, **flags))
    seconds = time.perf_counter() - start
    control = seen.total(kit.CONTROL)
    print(f"{function} x {inputs}: {control} control-plane requests, {seconds:.1f} s", file=sys.stderr)
    return {
        "inputs": inputs,
        "correct": out == [v * v for v in values],
        "seconds": round(seconds, 2),
        "requests": seen.to_json(),
        "control_requests": control,
        "inputs_per_control_request": round(inputs / control, 1) if control else None,
    }


def measure_start(kit: Any, backend: Any, function: str, inputs: int) -> dict[str, Any]:
    """The control-plane requests of starting a map of ``inputs`` (its results not awaited)."""
    start = time.perf_counter()
    with kit.counting(backend) as seen:
        call_id = backend.invoker.spawn_map(backend.target(function), [((v,), {}) for v in range(inputs)])
    seconds = time.perf_counter() - start
    backend.invoker.cancel(call_id)
    control = seen.total(kit.CONTROL)
    print(f"{function} x {inputs} (start only): {control} control-plane requests", file=sys.stderr)
    return {
        "inputs": inputs,
        "correct": True,
        "results_awaited": False,
        "seconds": round(seconds, 2),
        "requests": seen.to_json(),
        "control_requests": control,
        "inputs_per_control_request": round(inputs / control, 1) if control else None,
    }


def run(
    targets: list[str], inputs: int, batch_inputs: int, max_tasks: int | None, gcpbatch_full: int
) -> dict[str, Any]:
    """Every target's figures, one backend per cloud."""
    kit = _kit()
    figures: dict[str, Any] = {}
    for cloud in ("aws", "gcp"):
        wanted = [t for t in targets if TARGETS[t][0] == cloud]
        if not wanted:
            continue
        # The folder outlives the backend: its services are found and stopped through it.
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
            backend = kit.BACKENDS[cloud](stack, Path(tmp))
            for target in wanted:
                function = TARGETS[target][1]
                if target == "gcpbatch" and inputs > gcpbatch_full:
                    figures[target] = measure_start(kit, backend, function, inputs)
                    figures[f"gcpbatch_{gcpbatch_full}"] = measure(
                        kit, backend, function, gcpbatch_full, max_tasks
                    )
                    continue
                figures[target] = measure(kit, backend, function, inputs, max_tasks)
                if target == "batch" and batch_inputs:
                    figures["batch_100k" if batch_inputs == 100_000 else f"batch_{batch_inputs}"] = measure(
                        kit, backend, function, batch_inputs, max_tasks
                    )
    return figures


def verdict(figures: dict[str, Any]) -> dict[str, Any]:
    """Whether each measured map meets issue 17's targets."""
    out: dict[str, Any] = {}
    for name, fig in figures.items():
        if name.startswith("batch_") and fig["inputs"] == 100_000:
            out[name] = fig["correct"] and fig["control_requests"] <= BATCH_100K_LIMIT
        else:
            out[name] = fig["correct"] and fig["control_requests"] * PER_REQUEST_TARGET <= fig["inputs"]
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the maps and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--batch-inputs", type=int, default=100_000, help="0 skips the large Batch map")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--max-tasks", type=int, default=16, help="most tasks per Batch map (0: deployed)")
    parser.add_argument(
        "--gcpbatch-full", type=int, default=2_000, help="largest GCP Batch map run to the end"
    )
    opts = parser.parse_args(argv)
    targets = [t for t in opts.targets.split(",") if t]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {sorted(TARGETS)}")
    figures = run(targets, opts.inputs, opts.batch_inputs, opts.max_tasks or None, opts.gcpbatch_full)
    report = {
        "benchmark": "cloud_map_requests",
        "max_tasks": opts.max_tasks or "deployed",
        "targets": figures,
        "meets_target": verdict(figures),
    }
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0 if all(report["meets_target"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
