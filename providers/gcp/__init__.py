"""pcompile."""
