"""Shared fixtures: the synthetic raw sets and built datasets, made once per session."""

import os

# no test touches the network: Hugging Face libraries read their caches only
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

pytest_plugins = [
    "tests.fixtures.synthetic_mri",
    "tests.fixtures.synthetic_patho",
    "tests.fixtures.builds",
]
