"""A fake backend for ``wstool serve``: mock rules and injected faults, as data and decisions.

:mod:`wstool.mock.rules` reads a rules file (JSON, or YAML through PyYAML,
imported only then), checks it with one error naming the line or the key,
and answers a message with the first rule that matches it.
:mod:`wstool.mock.faults` holds the counting and timing decisions of
``serve``'s fault injection. Standard library and :mod:`wstool.core` only:
the Twisted side is :mod:`wstool.net.mockserve` and :mod:`wstool.net.faults`.
"""

from __future__ import annotations

from wstool.mock.faults import FaultPlan, Faults
from wstool.mock.rules import Answer, MockRules, RulesError, load_rules, parse_rules

__all__ = ["Answer", "FaultPlan", "Faults", "MockRules", "RulesError", "load_rules", "parse_rules"]
