"""σ and volume of a balanced metric on 1 and 4 devices (float64, same points)."""

import jax
import numpy as np

from ntkflow import parallel
from ntkflow.cy.donaldson import balanced_metric, potential_det
from ntkflow.cy.measures import sigma_measure, volume
from ntkflow.cy.sampling import sample_points
from ntkflow.cy.variety import variety_from_name


def test_potential_det_same_on_one_and_four_devices():
    v = variety_from_name("fermat-quintic")
    ps = sample_points(v, 1003, jax.random.PRNGKey(0))  # not a multiple of 4: padded rows
    pot = balanced_metric(v, 2, sample_points(v, 2000, jax.random.PRNGKey(1)), 3)
    dets = [
        potential_det(v, pot, ps.z, ps.patch, ps.elim, mesh=m)
        for m in (None, parallel.point_mesh(1), parallel.point_mesh(4))
    ]
    for d in dets[1:]:
        np.testing.assert_allclose(d, dets[0], rtol=1e-12)
    s = [sigma_measure(d, ps.omega_sq, ps.weights)[0] for d in dets]
    vols = [volume(d, ps.omega_sq, ps.weights) for d in dets]
    np.testing.assert_allclose(s, s[0], rtol=1e-10)
    np.testing.assert_allclose(vols, vols[0], rtol=1e-10)
