"""Tests of hepatokit.curation."""
