"""``modal.config``: settings (pcompile reads its own from stack files)."""

config: dict[str, object] = {}

__all__ = ["config"]
