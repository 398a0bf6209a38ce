"""Shared fixtures: the synthetic raw sets and built datasets, made once per session."""

pytest_plugins = [
    "tests.fixtures.synthetic_mri",
    "tests.fixtures.synthetic_patho",
    "tests.fixtures.builds",
]
