"""The app every invoker of the contract suite runs: local pools, AWS on moto, GCP on the emulator.

Only plain Python. Each function is placed on the clouds' serverless target (Lambda,
Cloud Run), so a spawned call runs on its own while the caller polls, as it does on
the platforms, except ``batch_*``, whose timeout is past Lambda's and Cloud Run's:
they run on AWS Batch and GCP Batch.
"""

import os
import time
from pathlib import Path

import modal

app = modal.App("pcompile-contract")


class ContractError(Exception):
    """The user's own exception type: a remote failure comes back as this class, message kept."""


@app.function()
def square(x: int) -> int:
    return x * x


@app.function()
def echo(value: object) -> object:
    return value


@app.function()
def count(n: int):
    yield from range(n)


@app.function()
def fail(message: str) -> None:
    raise ContractError(message)


@app.function()
def even_square(x: int) -> int:
    """``x * x`` for even ``x``; odd inputs fail with the user's own exception."""
    if x % 2:
        raise ContractError(f"odd input {x}")
    return x * x


@app.function()
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.function(timeout=2)
def overrun() -> None:
    """Runs past its own ``timeout``: every backend stops it and says so."""
    time.sleep(60)


def _arrive(token: str, folder: str, others: int) -> str:
    """Input ``"last"`` returns only after ``others`` inputs have left their token in
    ``folder`` (every backend runs on this machine), so it finishes after them however
    slowly they are scheduled; any other input leaves its token and returns at once.
    A failing token (``"fail-..."``) raises the user's exception after arriving."""
    if token != "last":
        Path(folder, token).write_text(token)
        if token.startswith("fail"):
            raise ContractError(f"failed {token}")
        return token
    deadline = time.monotonic() + 300
    while len(os.listdir(folder)) < others and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the others' results are on their way back
    return token


@app.function()
@modal.concurrent(max_inputs=8)
def arrive(token: str, folder: str, others: int) -> str:
    return _arrive(token, folder, others)


@app.function(timeout=2 * 3600)
def batch_arrive(token: str, folder: str, others: int) -> str:
    return _arrive(token, folder, others)


@app.function(timeout=2 * 3600)
def batch_even_square(x: int) -> int:
    """``even_square`` on Batch."""
    if x % 2:
        raise ContractError(f"odd input {x}")
    return x * x
