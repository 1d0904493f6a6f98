"""Tests of wstool.check: judging in both directions, selection, specs, reports."""
