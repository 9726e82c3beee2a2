"""A warm interpreter per image that forks Batch job processes (short jobs start in milliseconds).

Importing boto3 and the runtime takes most of a short Batch job's time on a small
machine, and an array job runs many such processes. :class:`ForkServer` starts the
image's interpreter once with the platform's environment, imports only what every
runtime imports (boto3, cloudpickle, ``pcompile.runtime``: never user code), and
then forks one child per job attempt. Each child starts clean: the job's own
environment replaces the inherited one, its working directory and log are set, and
``python -m <module> <args>`` runs as the job definition's command says. Children
stay in the service's process group. A command that is not ``python -m ...`` runs
as a plain subprocess instead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from .compute_images import Launch

ZYGOTE = r"""
import json, os, runpy, select, sys, traceback
import boto3, botocore.session, cloudpickle
import pcompile.runtime, pcompile.runtime.aws_batch, pcompile.runtime.aws_runtime, pcompile.runtime.bundle

def child(req):
    fd = os.open(req["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1); os.dup2(fd, 2); os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.chdir(req["cwd"]); os.environ.clear(); os.environ.update(req["env"])
    sys.argv = [req["module"], *req["args"]]
    sys.path[0] = req["cwd"]
    code = 0
    try:
        runpy.run_module(req["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc(); code = 1
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(code)

def say(data):
    sys.stdout.write(json.dumps(data) + "\n"); sys.stdout.flush()

say({"ready": True})
children = set()
while True:
    readable, _, _ = select.select([sys.stdin], [], [], 0.05)
    if readable:
        line = sys.stdin.readline()
        if not line:
            break
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(req)
        children.add(pid)
        say({"id": req["id"], "pid": pid})
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children.discard(pid)
            say({"pid": pid, "exit": os.waitstatus_to_exitcode(status)})
"""


class Forked:
    """A job process forked by a :class:`ForkServer`: ``poll``/``wait``/``kill`` like ``Popen``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.exited = threading.Event()

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        if not self.exited.wait(timeout):
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the process (its exit is reported by the server)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class ForkServer:
    """One warm interpreter of one image (see the module docstring)."""

    def __init__(self, launch: Launch, env: dict[str, str], cwd: Path) -> None:
        self.lock = threading.Lock()
        self.started: dict[int, Forked] = {}
        self.by_pid: dict[int, Forked] = {}
        self.early: dict[int, int] = {}  # exits reported before the start was matched
        self.replies: dict[int, threading.Event] = {}
        self.next_id = 0
        self.proc = subprocess.Popen(
            [launch.python, "-c", ZYGOTE],
            env={**launch.env, **env},
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        self.ok = b"ready" in self.proc.stdout.readline()
        threading.Thread(target=self._read, daemon=True).start()

    def alive(self) -> bool:
        """Whether the server started and still runs."""
        return self.ok and self.proc.poll() is None

    def spawn(self, module: str, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Forked:
        """Fork ``python -m module args`` with exactly ``env``."""
        with self.lock:
            self.next_id += 1
            request_id = self.next_id
            self.replies[request_id] = threading.Event()
        request = {
            "id": request_id,
            "module": module,
            "args": args,
            "env": env,
            "cwd": str(cwd),
            "log": str(log),
        }
        assert self.proc.stdin is not None
        with self.lock:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        if not self.replies[request_id].wait(30) or request_id not in self.started:
            raise OSError("the image's fork server did not answer")
        return self.started.pop(request_id)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message: dict[str, Any] = json.loads(line)
            with self.lock:
                if "id" in message:
                    forked = Forked(int(message["pid"]))
                    self.by_pid[forked.pid] = forked
                    self.started[int(message["id"])] = forked
                    self.replies.pop(int(message["id"])).set()
                    self._settle(forked.pid)
                elif "exit" in message:
                    self.early[int(message["pid"])] = int(message["exit"])
                    self._settle(int(message["pid"]))
        with self.lock:  # the server died: its children are gone too (or orphaned and killed)
            for forked in self.by_pid.values():
                forked.returncode = -signal.SIGKILL
                forked.exited.set()

    def _settle(self, pid: int) -> None:
        forked = self.by_pid.get(pid)
        if forked is not None and pid in self.early:
            forked.returncode = self.early.pop(pid)
            self.by_pid.pop(pid)
            forked.exited.set()

    def close(self) -> None:
        """Stop the server and every child it forked."""
        for forked in list(self.by_pid.values()):
            forked.kill()
        self.proc.kill()
        self.proc.wait()


def module_command(launch: Launch, argv: list[str]) -> tuple[str, list[str]] | None:
    """``(module, args)`` when ``argv`` is ``<the image's python> -m module args``."""
    if len(argv) >= 3 and argv[0] == launch.python and argv[1] == "-m":
        return argv[2], argv[3:]
    return None
