"""Functions the GCP runtime unit tests import by module + qualname."""

from __future__ import annotations

from pathlib import Path


def flaky(counter: str, failures: int) -> int:
    """Fail ``failures`` times (counted in a file), then return the attempt number."""
    path = Path(counter)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt
