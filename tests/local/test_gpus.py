"""The local provider honours ``gpu=``: devices per worker from ``nvidia-smi -L``.

There is no GPU on the test machine, so each test puts a fake ``nvidia-smi`` first on
PATH (it lists 4 GPUs, or fails) and its own device lock folder in the environment;
workers report the ``CUDA_VISIBLE_DEVICES`` they got.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from localhelp import fn, target
from servers import popen_group, stop_group

from pcompile.exception import InvalidError
from pcompile.providers.local import gpus

CLI = [sys.executable, "-c", "from pcompile.cli.main import main; main()"]


def run_in_group(argv: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``cwd`` with its own local state, in its own process group, which is
    stopped afterwards: no worker outlives the test, even when the run hangs."""
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(cwd / "local")}
    proc = popen_group(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop_group(proc)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def fake_nvidia_smi(folder: Path, body: str) -> Path:
    """An executable ``nvidia-smi`` in ``folder`` running the shell ``body``."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def four_gpus_listing(name: str = "NVIDIA A100-SXM4-80GB") -> tuple[str, list[str]]:
    """``nvidia-smi -L`` output of 4 GPUs with fresh UUIDs, and the UUIDs."""
    uuids = [f"GPU-{uuid.uuid4()}" for _ in range(4)]
    return "".join(f"GPU {i}: {name} (UUID: {u})\n" for i, u in enumerate(uuids)), uuids


@pytest.fixture
def gpu_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install a fake ``nvidia-smi`` (``install(body)``) and isolate device locks."""
    monkeypatch.setenv("PCOMPILE_GPU_LOCK_DIR", str(tmp_path / "gpu-locks"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("PCOMPILE_GPUS", raising=False)

    def install(body: str) -> None:
        folder = tmp_path / "bin"
        fake_nvidia_smi(folder, body)
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")

    return install


@pytest.fixture
def four_gpus(gpu_env: Any) -> list[str]:
    """A fake machine with 4 A100s; returns their UUIDs."""
    listing, uuids = four_gpus_listing()
    gpu_env(f'[ "$1" = "-L" ] || exit 2\ncat <<"EOF"\n{listing}EOF')
    return uuids


def gfn(
    name: str, qualname: str = "devices", kind: str | None = "A100", count: int = 1, **extra: Any
) -> dict:
    """A function of ``tests/fixtures/local_gpus.py`` asking for ``count`` GPUs of ``kind``."""
    gpu = {"type": kind, "count": count, "fallbacks": []} if kind else None
    return fn(name, module="local_gpus", qualname=qualname, gpu=gpu, **extra)


def warnings_of(invoker: Any) -> list[str]:
    return [line for line in invoker.lines if "warning:" in line]


def test_one_gpu(four_gpus, invoker_factory):
    invoker = invoker_factory(gfn("f"))
    seen = invoker.call(target("f"), (), {})
    assert seen["CUDA_VISIBLE_DEVICES"] == "0"
    assert seen["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # indices as nvidia-smi numbers them
    assert warnings_of(invoker) == []


def test_two_gpus(four_gpus, invoker_factory):
    invoker = invoker_factory(gfn("f", count=2))
    assert invoker.call(target("f"), (), {})["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_two_gpu_functions_at_once_get_disjoint_devices(four_gpus, invoker_factory, tmp_path):
    together = tmp_path / "together"
    together.mkdir()
    invoker = invoker_factory(
        gfn("f", "devices_together", count=2, max_containers=1),
        gfn("g", "devices_together", count=2, max_containers=1),
    )
    seen: dict[str, str] = {}

    def call(name: str) -> None:
        seen[name] = invoker.call(target(name), (str(together), 2), {})

    threads = [threading.Thread(target=call, args=(name,)) for name in ("f", "g")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    devices = {name: set(value.split(",")) for name, value in seen.items()}
    assert len(devices["f"]) == len(devices["g"]) == 2
    assert devices["f"] | devices["g"] == {"0", "1", "2", "3"}  # disjoint: 4 distinct devices


def test_workers_of_one_function_never_share_a_device(four_gpus, invoker_factory, tmp_path, monkeypatch):
    started = tmp_path / "started"
    started.mkdir()
    # each worker records its devices at import and waits until all 4 have: 4 live at once
    monkeypatch.setenv("LOCAL_GPUS_BARRIER", f"{started}:4")
    invoker = invoker_factory(gfn("f", max_containers=4))
    opts = {"order_outputs": True, "return_exceptions": False, "wrap_returned_exceptions": True}
    out = list(invoker.map(target("f"), [((), {})] * 8, **opts))
    assert {seen["CUDA_VISIBLE_DEVICES"] for seen in out} <= {"0", "1", "2", "3"}
    assert sorted(p.read_text() for p in started.iterdir()) == ["0", "1", "2", "3"]


def test_claims_hold_devices_until_released(four_gpus):
    found = gpus.probe()
    first, second = gpus.claim(1, found), gpus.claim(2, found)
    assert first is not None and second is not None
    assert [g.index for g in first.gpus] == [0] and [g.index for g in second.gpus] == [1, 2]
    assert gpus.claim(2, found) is None  # one device left
    second.release()
    third = gpus.claim(3, found)
    assert third is not None and [g.index for g in third.gpus] == [1, 2, 3]
    for claim in (first, third):
        claim.release()


def test_a_worker_waits_for_devices_an_idle_worker_gives_back(four_gpus, invoker_factory):
    invoker = invoker_factory(gfn("all", count=4, max_containers=1), gfn("one"))
    assert invoker.call(target("all"), (), {})["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
    seen: list[dict[str, str]] = []
    thread = threading.Thread(target=lambda: seen.append(invoker.call(target("one"), (), {})))
    thread.start()
    thread.join(60)  # the idle worker of "all" is stopped after gpus.RECLAIM_IDLE_S
    assert seen and seen[0]["CUDA_VISIBLE_DEVICES"] in {"0", "1", "2", "3"}
    assert any("[one] waiting for 1 free GPU" in line for line in invoker.lines), invoker.lines


def test_more_gpus_than_present_is_an_error_naming_the_function(four_gpus, invoker_factory):
    with pytest.raises(InvalidError) as caught:
        invoker_factory(gfn("big", count=8, source={"file": "app.py", "line": 7}))
    message = str(caught.value)
    assert "'big' (app.py:7)" in message and 'gpu="A100:8"' in message and "only 4" in message
    assert 'gpu="A100:4"' in message  # the fix


def test_a_fallback_that_fits_is_used(four_gpus, invoker_factory):
    spec = gfn("f", count=8)
    spec["gpu"]["fallbacks"] = [{"type": "A100", "count": 2}]
    invoker = invoker_factory(spec)
    assert invoker.call(target("f"), (), {})["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_no_gpu_runs_on_cpu_after_one_warning_per_function(gpu_env, invoker_factory):
    gpu_env('echo "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver."; exit 9')
    invoker = invoker_factory(
        gfn("f", max_containers=2, source={"file": "app.py", "line": 3}),
        gfn("g", count=2),
        gfn("cpu", kind=None),
    )
    opts = {"order_outputs": True, "return_exceptions": False, "wrap_returned_exceptions": True}
    seen = [invoker.call(target("f"), (), {}) for _ in range(3)]
    seen += list(invoker.map(target("f"), [((), {})] * 6, **opts))
    seen += [invoker.call(target("g"), (), {}), invoker.call(target("cpu"), (), {})]
    assert {s["CUDA_VISIBLE_DEVICES"] for s in seen} == {""}
    lines = warnings_of(invoker)
    assert len(lines) == 2, lines  # one per GPU function, not per input or worker
    assert lines[0].startswith('[f] warning: f (app.py:3) asks for gpu="A100"')
    assert "could not communicate with the NVIDIA driver" in lines[0] and "runs on CPU" in lines[0]
    assert lines[1].startswith('[g] warning: g asks for gpu="A100:2"')


def test_cpu_functions_see_no_gpu(four_gpus, invoker_factory):
    invoker = invoker_factory(gfn("f"), gfn("cpu", kind=None))
    seen = invoker.call(target("cpu"), (), {})
    assert seen["CUDA_VISIBLE_DEVICES"] == ""  # as in a Modal CPU container
    assert seen["PCOMPILE_GPUS"] == ",".join(four_gpus)  # its nested GPU calls may use them


def test_another_type_is_a_warning_not_an_error(four_gpus, invoker_factory):
    invoker = invoker_factory(gfn("f", kind="H100"))
    assert invoker.call(target("f"), (), {})["CUDA_VISIBLE_DEVICES"] == "0"
    (line,) = warnings_of(invoker)
    assert "asks for H100; the GPUs here are NVIDIA A100-SXM4-80GB" in line


def test_the_callers_cuda_visible_devices_narrows_the_devices(four_gpus, invoker_factory, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", f"2,{four_gpus[3]}")  # an index and a UUID
    invoker = invoker_factory(gfn("f", count=2))
    assert invoker.call(target("f"), (), {})["CUDA_VISIBLE_DEVICES"] == "2,3"


def test_parse_list_and_probe_without_nvidia_smi(tmp_path):
    text = (
        "GPU 0: NVIDIA H200 (UUID: GPU-1d7e)\n"
        "  MIG 3g.71gb     Device  0: (UUID: MIG-9a2f)\n"
        "GPU 1: NVIDIA H200 (UUID: GPU-44b0)\n"
    )
    assert gpus.parse_list(text) == [
        gpus.Gpu(0, "NVIDIA H200", "GPU-1d7e"),
        gpus.Gpu(1, "NVIDIA H200", "GPU-44b0"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert gpus.probe({"PATH": str(empty)}) == gpus.Found((), "nvidia-smi is not on PATH")


APP = """\
import os

import pcompile as modal

app = modal.App("gpus")


@app.function(gpu="{gpu}")
def f():
    return os.environ["CUDA_VISIBLE_DEVICES"]


@app.local_entrypoint()
def main():
    print("devices", f.remote())
"""


def pcompile_run(tmp_path: Path, gpu: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.py").write_text(APP.format(gpu=gpu))
    return run_in_group([*CLI, "run", "app.py"], tmp_path)


def test_pcompile_run_gives_the_function_its_gpus(four_gpus, tmp_path):
    result = pcompile_run(tmp_path, "A100:2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "devices 0,1" in result.stdout.splitlines()


def test_pcompile_run_refuses_a_count_larger_than_the_gpus_present(four_gpus, tmp_path):
    result = pcompile_run(tmp_path, "A100:8")
    assert result.returncode != 0
    assert "app.py:8" in result.stderr and "only 4" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_with_app_run_gives_the_function_its_gpus(four_gpus, tmp_path):
    app_part = APP.split("@app.local_entrypoint()")[0].format(gpu="A100:2")
    (tmp_path / "script.py").write_text(
        app_part + 'if __name__ == "__main__":\n    with app.run():\n        print("devices", f.remote())\n'
    )
    result = run_in_group([sys.executable, "script.py"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "devices 0,1" in result.stdout.splitlines()


SERVED = """\
import os

import pcompile as modal

app = modal.App("gpu-serve")


@app.function(gpu="A100")
@modal.fastapi_endpoint(method="GET")
def web():
    return {"devices": os.environ["CUDA_VISIBLE_DEVICES"]}


@app.function(gpu="A100:2")
def f():
    return os.environ["CUDA_VISIBLE_DEVICES"]
"""


def test_pcompile_serve_gives_endpoints_and_functions_disjoint_gpus(four_gpus, tmp_path):
    (tmp_path / "served.py").write_text(SERVED)
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local")}
    log = (tmp_path / "serve.log").open("w")
    proc = popen_group(
        [*CLI, "serve", "--no-reload", "served.py"], cwd=tmp_path, env=env, stdout=log, stderr=log
    )
    record_path = tmp_path / "local" / "deployments" / "gpu-serve.json"
    try:
        for _ in range(1200):
            if record_path.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert record_path.exists(), (tmp_path / "serve.log").read_text()
        url = json.loads(record_path.read_text())["web_urls"]["web"]
        assert httpx.get(url + "/", timeout=30).json() == {"devices": "0"}  # the endpoint holds device 0
        code = "import pcompile; print(pcompile.Function.from_name('gpu-serve', 'f').remote())"
        out = run_in_group([sys.executable, "-c", code], tmp_path, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["1,2"]
    finally:
        stop_group(proc)
        log.close()


NESTED = """\
import os

import pcompile as modal

app = modal.App("gpu-nested")


@app.function(gpu="A100:4", max_containers=1)
def hold():
    return os.environ["CUDA_VISIBLE_DEVICES"]


@app.function(gpu="A100")
def one():
    return os.environ["CUDA_VISIBLE_DEVICES"]


@app.function()
def cpu_outer():
    return os.environ["CUDA_VISIBLE_DEVICES"], one.remote()


@app.local_entrypoint()
def main():
    print("hold", hold.remote())
    print("outer", *cpu_outer.remote())
"""


def test_a_nested_call_gets_devices_an_idle_worker_of_the_caller_gives_back(four_gpus, tmp_path):
    # hold's idle worker keeps all 4 devices in the top-level process; the nested call to
    # `one` runs in cpu_outer's worker process, which waits until that worker gives them back
    (tmp_path / "nested.py").write_text(NESTED)
    result = run_in_group([*CLI, "run", "nested.py"], tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert "hold 0,1,2,3" in lines
    outer = next(line for line in lines if line.startswith("outer")).split(" ")
    assert outer[1] == "" and outer[2] in {"0", "1", "2", "3"}  # the CPU caller sees none
