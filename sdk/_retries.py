"""``modal.Retries``: retry policy with Modal's validation ranges and backoff."""

from __future__ import annotations

from pcompile.exception import InvalidError


class Retries:
    """Retry a failed input up to ``max_retries`` times; delay n is
    ``min(initial_delay * backoff_coefficient ** (n - 1), max_delay)`` seconds."""

    def __init__(
        self,
        *,
        max_retries: int,
        backoff_coefficient: float = 2.0,
        initial_delay: float = 1.0,
        max_delay: float = 60.0,
    ) -> None:
        if not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidError(f"Retries(max_retries={max_retries!r}): must be an int >= 0")
        if not 1 <= backoff_coefficient <= 10:
            raise InvalidError(
                f"Retries(backoff_coefficient={backoff_coefficient!r}): must be between 1.0 and 10.0"
            )
        if not 0 <= initial_delay <= 60:
            raise InvalidError(f"Retries(initial_delay={initial_delay!r}): must be between 0 and 60 seconds")
        if not 1 <= max_delay <= 60:
            raise InvalidError(f"Retries(max_delay={max_delay!r}): must be between 1 and 60 seconds")
        self.max_retries = max_retries
        self.backoff_coefficient = float(backoff_coefficient)
        self.initial_delay = float(initial_delay)
        self.max_delay = float(max_delay)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return min(self.initial_delay * self.backoff_coefficient ** (attempt - 1), self.max_delay)

    def __repr__(self) -> str:
        return (
            f"Retries(max_retries={self.max_retries}, backoff_coefficient={self.backoff_coefficient}, "
            f"initial_delay={self.initial_delay}, max_delay={self.max_delay})"
        )


def parse_retries(retries: int | Retries | None, what: str = "retries") -> Retries | None:
    """Modal's rule: an int n means ``Retries(max_retries=n, initial_delay=1.0, backoff_coefficient=1.0)``."""
    if retries is None:
        return None
    if isinstance(retries, bool) or not isinstance(retries, int | Retries):
        raise InvalidError(f"{what}={retries!r}: pass an int or modal.Retries(max_retries=...)")
    if isinstance(retries, int):
        if not 0 <= retries <= 10:
            raise InvalidError(f"{what}={retries}: must be between 0 and 10")
        return Retries(max_retries=retries, initial_delay=1.0, backoff_coefficient=1.0)
    return retries
