#!/usr/bin/env bash
# Check on a machine with NVIDIA GPUs that `pcompile run` gives GPU functions their devices
# (docs/local.md, "GPUs"): a tiny app with gpu="H100" and one with gpu="H100:2" print what
# CUDA_VISIBLE_DEVICES, `nvidia-smi -L` and the CUDA driver show inside the worker; the
# driver must see exactly the devices asked for, the ones CUDA_VISIBLE_DEVICES names (by
# PCI bus id). With fewer GPUs than a count asks, that run must fail with the app's
# file:line instead. Exits non-zero on any mismatch.
#
#   scripts/device_check.sh            # needs pcompile installed (pip install -e .)
#   PCOMPILE="python -m pcompile.cli.main" scripts/device_check.sh
#   DEVICE_CHECK_ALLOW_NO_LIBCUDA=1    # a dry run with a fake nvidia-smi (no driver)
set -euo pipefail

PCOMPILE=${PCOMPILE:-pcompile}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PCOMPILE_LOCAL_DIR="$work/local" PCOMPILE_IMAGE_ENV=0 PCOMPILE_GPU_LOCK_DIR="$work/gpu-locks"

echo "== nvidia-smi -L on the host"
nvidia-smi -L
present=$(nvidia-smi -L | grep -c '^GPU ' || true)
buses=$(nvidia-smi --query-gpu=index,pci.bus_id --format=csv,noheader 2>/dev/null || true)

write_app() {  # $1: file, $2: gpu string
  cat >"$1" <<EOF
import ctypes
import json
import os
import subprocess

import pcompile as modal

app = modal.App("device-check")


@app.function(gpu="$2")
def probe():
    seen = {
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "CUDA_DEVICE_ORDER": os.environ.get("CUDA_DEVICE_ORDER"),
        "nvidia-smi -L": subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout,
        "cuda": None,
    }
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return seen
    if cuda.cuInit(0) != 0:
        seen["cuda"] = "cuInit failed"
        return seen
    count = ctypes.c_int()
    cuda.cuDeviceGetCount(ctypes.byref(count))
    ids = []
    for ordinal in range(count.value):
        device, bus = ctypes.c_int(), ctypes.create_string_buffer(64)
        cuda.cuDeviceGet(ctypes.byref(device), ordinal)
        cuda.cuDeviceGetPCIBusId(bus, 64, device)
        ids.append(bus.value.decode())
    seen["cuda"] = ids
    return seen


@app.local_entrypoint()
def main():
    print("RESULT " + json.dumps(probe.remote()))
EOF
}

check() {  # $1: gpu string, $2: count
  local app="$work/app_$2.py" out="$work/out_$2.txt" err="$work/err_$2.txt" rc=0
  write_app "$app" "$1"
  echo "== pcompile run, gpu=\"$1\""
  (cd "$work" && $PCOMPILE run "$app") >"$out" 2>"$err" || rc=$?
  cat "$out" "$err"
  if [ "$2" -gt "$present" ]; then
    if [ "$rc" -ne 0 ] && grep -q "app_$2.py:11" "$err" && ! grep -q Traceback "$err"; then
      echo "ok: gpu=\"$1\" on $present GPU(s) is refused naming app_$2.py:11"
      return 0
    fi
    echo "MISMATCH: gpu=\"$1\" on $present GPU(s) should fail naming app_$2.py:11 (rc=$rc)"
    return 1
  fi
  [ "$rc" -eq 0 ] || { echo "MISMATCH: pcompile run failed (rc=$rc)"; return 1; }
  RESULT=$(grep '^RESULT ' "$out" | head -1 | cut -c8-) COUNT=$2 BUSES="$buses" python3 - <<'EOF' || return 1
import json, os, sys

seen = json.loads(os.environ["RESULT"])
count = int(os.environ["COUNT"])
print("inside the worker:", json.dumps(seen, indent=2))
wanted = [w for w in (seen["CUDA_VISIBLE_DEVICES"] or "").split(",") if w]
problems = []
if len(wanted) != count:
    problems.append(f"CUDA_VISIBLE_DEVICES={seen['CUDA_VISIBLE_DEVICES']!r} names {len(wanted)} devices, not {count}")
if seen["CUDA_DEVICE_ORDER"] != "PCI_BUS_ID":
    problems.append(f"CUDA_DEVICE_ORDER={seen['CUDA_DEVICE_ORDER']!r}, not PCI_BUS_ID")
listed = {line.split(":")[0].split()[-1] for line in seen["nvidia-smi -L"].splitlines() if line.startswith("GPU ")}
if not set(wanted) <= listed:
    problems.append(f"CUDA_VISIBLE_DEVICES names {wanted}, but nvidia-smi -L in the worker lists {sorted(listed)}")
short = lambda bus: bus.lower().split(":", 1)[-1] if bus.count(":") == 2 else bus.lower()  # noqa: E731
host = dict(line.replace(" ", "").split(",", 1) for line in os.environ["BUSES"].splitlines() if "," in line)
if seen["cuda"] is None:
    if os.environ.get("DEVICE_CHECK_ALLOW_NO_LIBCUDA") != "1":
        problems.append("libcuda.so.1 could not be loaded in the worker")
    else:
        print("note: no libcuda (dry run): the CUDA driver's view is not checked")
elif not isinstance(seen["cuda"], list):
    problems.append(f"CUDA driver: {seen['cuda']}")
else:
    expected = [short(host.get(w, "?")) for w in wanted]
    if [short(b) for b in seen["cuda"]] != expected:
        problems.append(f"the CUDA driver sees {seen['cuda']}, expected the devices at {expected}")
for problem in problems:
    print("MISMATCH:", problem)
sys.exit(1 if problems else 0)
EOF
  echo "ok: gpu=\"$1\" got $2 device(s)"
}

status=0
check "H100" 1 || status=1
check "H100:2" 2 || status=1
[ "$status" -eq 0 ] && echo "device check passed" || echo "device check FAILED"
exit "$status"
