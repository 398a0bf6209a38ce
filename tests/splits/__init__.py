"""Tests of hepatokit.splits."""
