"""``python -m itero.cli``: the ``itero`` command."""

from itero.cli import main

if __name__ == "__main__":  # importing this module (e.g. to collect its doctests) runs nothing
    main()
