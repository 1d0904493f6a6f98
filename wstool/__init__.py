"""wstool: the WebSocket workbench for the terminal.

``wstool serve`` runs a strict echo server, ``wstool connect URL`` a REPL
client and ``wstool decode`` turns hexdumps into readable frames. All three
share the sans-I/O codec in :mod:`wstool.core`.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
