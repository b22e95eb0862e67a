"""Defaults shared by the engine and the ``itero`` command, in a module that imports nothing (the command's
option defaults need them before it imports the engine)."""

DEFAULT_STORAGE = "sqlite:///itero.db"
