"""Tests that need four devices; ``tests/test_multidevice.py`` runs them in a process started
with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (the device count is fixed when JAX
starts, so they cannot share the main test process)."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)

DEVICES = 4


@pytest.fixture(scope="session", autouse=True)
def _four_devices():
    n = len(jax.local_devices())
    if n < DEVICES:
        pytest.fail(
            f"the multi-device tests need {DEVICES} devices, JAX sees {n}; run them through "
            "tests/test_multidevice.py or with "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={DEVICES}"
        )
