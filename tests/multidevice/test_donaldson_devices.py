"""Donaldson's T-iterations and σ of the balanced metric on 1 and 4 devices (float64)."""

import jax
import numpy as np
import pytest

from ntkflow import parallel
from ntkflow.cy.donaldson import balanced_hermitian, donaldson, section_basis
from ntkflow.cy.sampling import sample_points
from ntkflow.cy.variety import variety_from_name


@pytest.mark.parametrize("budget", [None, 2**16])  # 2**16: from the points, small chunks
def test_balanced_hermitian_same_on_one_and_four_devices(budget):
    v = variety_from_name("fermat-quintic")
    ps = sample_points(v, 2_003, jax.random.PRNGKey(3))
    exps = section_basis(v, 2)
    H = [
        balanced_hermitian(exps, ps.z, ps.weights, 6, budget=budget, mesh=m)
        for m in (None, parallel.point_mesh(4))
    ]
    np.testing.assert_allclose(H[1], H[0], rtol=1e-10, atol=1e-12 * np.abs(H[0]).max())


def test_donaldson_sigma_same_on_one_and_four_devices():
    v = variety_from_name("fermat-quintic")
    key = jax.random.PRNGKey(0)
    r1 = donaldson(v, 2, key, n_points=3_001, n_test=1_001, n_iter=5)
    r4 = donaldson(v, 2, key, n_points=3_001, n_test=1_001, n_iter=5, mesh=parallel.point_mesh(4))
    for name in ("sigma", "sigma_error", "volume"):
        np.testing.assert_allclose(r4[name], r1[name], rtol=1e-10)
