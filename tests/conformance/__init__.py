"""Conformance suite for ``wstool serve``: the case table, its runner and a blocking client.

The table (:mod:`conformance.cases`) is shared with ``scripts/conformance.py``,
which runs it against any server URL.
"""
