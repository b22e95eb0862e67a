"""``python -m itero.cli``: the ``itero`` command."""

from itero.cli import main

main()
