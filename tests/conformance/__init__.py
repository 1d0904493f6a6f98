"""Conformance suite for ``wstool serve``: the case table of :mod:`wstool.check` against it.

The table, its runner and the blocking client live in :mod:`wstool.check`
(``wstool check server`` runs them against any server URL); these tests run
them against ``wstool serve`` and hold every case to a strict OK.
"""
