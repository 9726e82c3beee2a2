"""pcompile: Modal's API, compiled to your own cloud."""

__version__ = "0.1.0"
