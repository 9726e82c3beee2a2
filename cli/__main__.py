"""``python -m pcompile.cli``: the same as the ``pcompile`` command."""

from pcompile.cli.main import main

main()
