"""``modal.runner``: running apps is done by ``pcompile run``; kept importable."""

__all__: list[str] = []
