"""Data-parallel training: the loss of 20 L-BFGS steps (and the test σ) on 1 and 4 devices."""

import numpy as np
import pytest

from ntkflow.cy.train_job import CYTrainJob

BASE = dict(
    variety="fermat-quintic",
    n_points=3_003,  # 2 001 training points: the 4-device run pads with zero weights
    n_test=1_002,
    k=2,
    steps=20,
    time_budget=0,
    eval_every=100,
    n_balance=1_000,
    dtype="float64",
)


def _job(devices: int, **extra) -> CYTrainJob:
    return CYTrainJob({**BASE, "devices": devices, **extra})


def _trajectory(devices: int, **extra) -> tuple[list[float], float]:
    job = _job(devices, **extra)
    state, losses = job.init(), []
    for _ in range(20):
        state, metrics = job.step(state)
        losses.append(metrics["loss"])
    return losses, job.sigma_test(job.model(state))


@pytest.mark.parametrize(
    "extra",
    [
        dict(optimizer="lbfgs"),
        dict(optimizer="adam", batch_size=500),
        # φ-network: its metric is the autodiff ∂∂̄ of the potential on each device's rows
        dict(ansatz="phi", width=16, depth=1, batch_size=500, learning_rate=1e-2),
    ],
    ids=["algebraic-lbfgs", "algebraic-adam", "phi-adam"],
)
def test_training_same_on_one_and_four_devices(extra):
    one, sigma_one = _trajectory(1, **extra)
    four, sigma_four = _trajectory(4, **extra)
    assert one[-1] < 0.5 * one[0]  # it trains
    np.testing.assert_allclose(four, one, rtol=1e-10)
    np.testing.assert_allclose(sigma_four, sigma_one, rtol=1e-10)


def test_training_step_memory_per_device_falls_with_the_device_count():
    """XLA's memory analysis of the compiled L-BFGS step: the per-device footprint of the
    sharded point data (temporaries + arguments) on 4 devices is at most about a quarter of
    the 1-device one (the replicated parameters and optimiser state add a little)."""
    sizes = {}
    for devices in (1, 4):
        job = _job(devices, n_points=9_000, n_test=1_000, n_fit=8_000, k=3, n_balance=2_000)
        state = job.init()
        lowered = job._step.lower(state["params"], state["opt_state"], job.fit, state["key"])
        m = lowered.compile().memory_analysis()
        sizes[devices] = m.temp_size_in_bytes + m.argument_size_in_bytes
    assert sizes[4] < 0.3 * sizes[1], sizes
