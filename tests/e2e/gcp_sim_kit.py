"""Helpers of the GCP simulate tests: a gcp-storage-emulator in its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

from servers import free_port

STACK_FILE = """\
# A GCP stack on one machine (written by the test).
cloud: gcp
engine: simulate
region: us-central1
project: pcompile-sim
endpoint_url: {url}
"""


@contextlib.contextmanager
def storage_emulator() -> Iterator[str]:
    """gcp-storage-emulator on a free loopback port; yields its URL. It runs in its own
    process group, and the whole group is stopped, even when pytest has no terminal."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable,
        "-m",
        "gcp_storage_emulator",
        "start",
        "-H",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
    ]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/storage/v1/b?project=p", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gcp-storage-emulator did not answer at {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        stop_group(proc.pid)
        proc.wait(timeout=10)


def stop_group(pid: int) -> None:
    """SIGTERM the process group led by ``pid``, then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        time.sleep(0.3)
