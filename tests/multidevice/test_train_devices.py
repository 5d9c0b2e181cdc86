"""Data-parallel training: the loss of 20 L-BFGS steps (and the test σ) on 1 and 4 devices."""

import numpy as np
import pytest

from ntkflow.cy.train_job import CYTrainJob


def _trajectory(devices: int, **extra) -> tuple[list[float], float]:
    cfg = dict(
        variety="fermat-quintic",
        n_points=3_003,  # 2 001 training points: the 4-device run pads with zero weights
        n_test=1_002,
        k=2,
        steps=20,
        time_budget=0,
        eval_every=100,
        n_balance=1_000,
        devices=devices,
        dtype="float64",
        **extra,
    )
    job = CYTrainJob(cfg)
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
        dict(ansatz="phi", width=16, depth=1, batch_size=500, learning_rate=1e-3),
    ],
    ids=["algebraic-lbfgs", "algebraic-adam", "phi-adam"],
)
def test_training_same_on_one_and_four_devices(extra):
    one, sigma_one = _trajectory(1, **extra)
    four, sigma_four = _trajectory(4, **extra)
    assert one[-1] < 0.95 * one[0]  # it trains
    np.testing.assert_allclose(four, one, rtol=1e-10)
    np.testing.assert_allclose(sigma_four, sigma_one, rtol=1e-10)
