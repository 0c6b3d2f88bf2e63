"""Shared test setup: every test starts and ends at the float32 Keras policy, so a stage run at
mixed precision cannot leak its global policy into the next test; the planted analysis results
that the similarity, stats and figures tests share."""

import sys

import pytest


@pytest.fixture(autouse=True)
def float32_policy():
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def planted(tmp_path_factory):
    """Planted results of the similarity, cluster and stats stages, built once (tests/planted_results.py); read only."""
    from planted_results import plant

    return plant(tmp_path_factory.mktemp("planted"))
