"""Shared test setup: every test starts and ends at the float32 Keras policy, so a stage run at
mixed precision cannot leak its global policy into the next test."""

import sys

import pytest


@pytest.fixture(autouse=True)
def float32_policy():
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].mixed_precision.set_global_policy("float32")
