"""A map under random worker SIGKILLs (at start and while running), printed as JSON.

Every execution of the function appends its input to a log, so re-executions are
counted, not guessed. Inputs sleep ``--delay`` seconds until the kills are done (so
the map lasts long enough for them), then run at full speed. The pass conditions: no input lost, none failed, none wrong,
and re-executions at most the inputs in flight at the kills (one per kill of a
running worker: the function runs one input at a time; a worker killed before it
was ready held none). Run: ``python benchmarks/chaos_map.py [--inputs N] [--kills K]``;
``tests/local/test_chaos.py`` runs it at a size that fits CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
RETRIES = {"max_retries": 5, "initial_delay": 0.0, "backoff_coefficient": 1.0, "max_delay": 1.0}


class Killer:
    """SIGKILLs workers of a pool: one that is running inputs and, half the time, its
    replacement while it starts (never more start kills in a row than the pool tolerates:
    it waits for a worker to become ready in between). An input is hit at most twice, so
    the retries (5) always suffice: the first worker to be ready would otherwise be killed
    over and over while it runs input 0."""

    def __init__(self, pool: Any, kills: int, seed: int, slow_flag: Path) -> None:
        self.pool, self.kills, self.slow_flag = pool, kills, slow_flag
        self.rng = random.Random(seed)
        self.running_kills = self.start_kills = 0
        self.hits: dict[int, int] = {}  # seq -> kills while it ran
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-killer", daemon=True)

    def _pick(self, ready: bool, timeout: float) -> tuple[Any, set[int]]:
        """A random worker that is starting (``ready=False``), or one running an input that
        was hit fewer than twice; with the seqs it runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            with self.pool.cond:
                found = [(w, w.running()) for w in self.pool.workers if w.ready == ready and not w.dead]
            if ready:
                found = [(w, r) for w, r in found if r and all(self.hits.get(seq, 0) < 2 for seq in r)]
            if found:
                return self.rng.choice(found)
            time.sleep(0.005)
        return None, set()

    def _kill(self, worker: Any) -> bool:
        try:
            os.kill(worker.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def _run(self) -> None:
        while self.running_kills + self.start_kills < self.kills and not self.stop.is_set():
            time.sleep(self.rng.uniform(0.02, 0.12))
            victim, running = self._pick(ready=True, timeout=5.0)
            if victim is None or not self._kill(victim):
                continue
            for seq in running:
                self.hits[seq] = self.hits.get(seq, 0) + 1
            self.running_kills += 1
            if self.rng.random() < 0.5 and self.running_kills + self.start_kills < self.kills:
                starting, _ = self._pick(ready=False, timeout=2.0)
                if starting is not None and self._kill(starting):
                    if starting.ready:  # it got ready just now: it may have started an input
                        self.running_kills += 1
                    else:
                        self.start_kills += 1
                    self._wait_ready()
        self.slow_flag.unlink(missing_ok=True)

    def _wait_ready(self) -> None:
        """Until some worker has become ready again (the pool's start-failure count is reset)."""
        while self.pool.start_failures and not self.stop.is_set():
            time.sleep(0.01)


def run(n_inputs: int, kills: int, *, delay: float = 0.02, workers: int = 4, seed: int = 7) -> dict[str, Any]:
    """Run the chaos map; returns the figures and whether each condition held."""
    from pcompile.providers.invoker import Target
    from pcompile.providers.local.invoker import LocalInvoker

    folder = Path(tempfile.mkdtemp(prefix="pcompile-chaos-"))
    log, slow_flag = folder / "executions", folder / "slow"
    slow_flag.touch()
    spec = {
        "name": "chaos_square",
        "module": "local_hardening",
        "qualname": "chaos_square",
        "timeout": 300,
        "max_containers": workers,
        "retries": RETRIES,
    }
    app = {"name": "chaos", "functions": [spec], "secrets": []}
    with LocalInvoker(app, root=str(FIXTURES), progress=False, log=lambda *a: None) as inv:
        target = Target("chaos", "chaos_square")
        pool, _ = inv.pool_for(target)
        killer = Killer(pool, kills, seed, slow_flag)
        killer.thread.start()
        start = time.perf_counter()
        flags = {"order_outputs": True, "return_exceptions": True, "wrap_returned_exceptions": True}
        out = list(
            inv.map(target, [((x, str(log), delay, str(slow_flag)), {}) for x in range(n_inputs)], **flags)
        )
        elapsed = time.perf_counter() - start
        killer.stop.set()
        killer.thread.join(10)
    executions = len(log.read_text().split())
    failed = sum(isinstance(v, BaseException) for v in out)
    wrong = sum(1 for x, v in enumerate(out) if not isinstance(v, BaseException) and v != x * x)
    figures = {
        "benchmark": "chaos_map",
        "inputs": n_inputs,
        "outputs": len(out),
        "lost": n_inputs - len(out),
        "failed": failed,
        "wrong": wrong,
        "kills_running": killer.running_kills,
        "kills_at_start": killer.start_kills,
        "executions": executions,
        "re_executions": executions - n_inputs,
        "re_execution_bound": killer.running_kills,  # inputs in flight at the kills
        "seconds": round(elapsed, 2),
        "python": sys.version.split()[0],
        "errors": sorted({f"{type(v).__name__}: {v}" for v in out if isinstance(v, BaseException)})[:5],
    }
    figures["ok"] = (
        figures["lost"] == failed == wrong == 0
        and killer.running_kills + killer.start_kills >= kills
        and figures["re_executions"] <= figures["re_execution_bound"]
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds an input sleeps during the kills")
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args()
    os.environ.setdefault("PCOMPILE_LOCAL_DIR", tempfile.mkdtemp(prefix="pcompile-bench-"))
    os.environ.setdefault("PCOMPILE_IMAGE_ENV", "0")
    figures = run(opts.inputs, opts.kills, delay=opts.delay, seed=opts.seed)
    print(json.dumps(figures, indent=2, sort_keys=True))
    sys.exit(0 if figures["ok"] else 1)


if __name__ == "__main__":
    main()
