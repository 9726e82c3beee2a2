"""``modal.app``: public names of this Modal submodule."""

from pcompile._app import App, LocalEntrypoint, Stub

__all__ = ["App", "LocalEntrypoint", "Stub"]
