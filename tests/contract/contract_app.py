"""The app every invoker of the contract suite runs: local pools, AWS on moto, GCP on the emulator.

Only plain Python: each function is placed on the clouds' serverless target (Lambda,
Cloud Run), so a spawned call runs on its own while the caller polls, as it does on
the platforms.
"""

import time

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
