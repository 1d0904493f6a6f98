"""Conformance checking, the Autobahn Testsuite's job: cases, runner, judging, reports.

The case table (:mod:`wstool.check.cases`) is data built with
:mod:`wstool.check.model`; :mod:`wstool.check.runner` runs one case over a
plain socket (:mod:`wstool.check.peer`, forging frames with
:mod:`wstool.core.frames`) and judges it with Autobahn's verdicts. Standard
library and :mod:`wstool.core` only: ``wstool check`` (in :mod:`wstool.cli`)
adds the terminal.
"""
