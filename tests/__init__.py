"""Tests for mppsolar-lib and the MPP Solar Home Assistant integration."""
