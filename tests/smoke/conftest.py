"""Fixtures for the smoke test when it runs without the test harness.

scripts/smoke_newest runs tests/smoke alone (``--confcutdir tests/smoke``, so tests/conftest.py
is not loaded) in a venv with the newest Home Assistant and plain pytest: no
pytest-homeassistant-custom-component, which pins an older Home Assistant, and no pytest-socket.
There the two fixtures the smoke test needs come from here; with the harness, from it and from
tests/conftest.py as for every other test.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from tests.common import LoopbackNet, random_loopback_net

if importlib.util.find_spec("pytest_homeassistant_custom_component") is None:

    @pytest.fixture
    def socket_enabled() -> None:
        """Nothing blocks sockets without pytest-socket."""

    @pytest.fixture
    def loopback() -> LoopbackNet:
        """A loopback /24 of this test's own, as in tests/conftest.py."""
        return random_loopback_net(os.environ.get("KEBA_TEST_NET") or None)
