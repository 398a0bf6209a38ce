"""Tests of hepatokit.evaluation and the evaluate CLI."""
