"""The terminal side of wstool: rich renderables and the prompt-toolkit REPL.

Never imports Twisted; what it drives or observes is declared as a
``typing.Protocol`` and plugged in by :mod:`wstool.cli`.
"""

__all__: list[str] = []
