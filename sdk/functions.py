"""``modal.functions``: public names of this Modal submodule."""

from pcompile._functions import Function, FunctionCall, Server

__all__ = ["Function", "FunctionCall", "Server"]
