"""Tests of wstool.capture."""
