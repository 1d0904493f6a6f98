"""Twisted adapters for wstool's codec: the only package that imports Twisted."""

__all__: list[str] = []
