"""Tests of hepatokit.curation.mri."""
