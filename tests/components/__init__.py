"""Tests that need Home Assistant (run only in the Python 3.13 environment)."""
