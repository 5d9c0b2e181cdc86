"""The data-parallel layer on one device: the cluster environment contract, the padding
rules that keep every weighted sum unchanged, and the blocked map and sum against plain numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkflow import parallel
from ntkflow.parallel import ParallelError, _cluster_settings


def test_cluster_contract():
    env = {
        "NTKFLOW_COORDINATOR": "node-a:29500",
        "NTKFLOW_NUM_PROCESSES": "4",
        "NTKFLOW_PROCESS_ID": "3",
    }
    assert _cluster_settings(env) == {
        "coordinator_address": "node-a:29500",
        "num_processes": 4,
        "process_id": 3,
    }
    assert _cluster_settings({}) is None  # a single process
    assert _cluster_settings({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}) is None
    assert _cluster_settings({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "8"}) == {}  # JAX reads SLURM
    for bad, words in (
        ({"NTKFLOW_COORDINATOR": "node-a:1"}, "missing NTKFLOW_NUM_PROCESSES"),
        ({**env, "NTKFLOW_PROCESS_ID": "4"}, "not in 0..3"),
        ({**env, "NTKFLOW_NUM_PROCESSES": "two"}, "must be integers"),
        ({**env, "NTKFLOW_COORDINATOR": "node-a"}, "host:port"),
    ):
        with pytest.raises(ParallelError, match=words):
            _cluster_settings(bad)


def test_more_devices_than_present_is_one_clear_error():
    with pytest.raises(ParallelError, match="xla_force_host_platform_device_count=9"):
        parallel.point_mesh(len(jax.local_devices()) + 8)
    with pytest.raises(ParallelError, match="at least 1"):
        parallel.point_mesh(-1)


def test_padding_keeps_weighted_sums_and_rows():
    mesh = parallel.point_mesh(1)
    assert [parallel.padded_rows(n, mesh) for n in (1, 7)] == [1, 7]
    assert parallel.process_rows(10) == (0, 10)  # one process holds every row
    assert parallel.process_share(10, mesh) == (0, 10)
    x = np.arange(5.0)
    assert np.array_equal(parallel._pad(x, 8, zero=True), [0, 1, 2, 3, 4, 0, 0, 0])
    assert np.array_equal(parallel._pad(x, 8, zero=False), [0, 1, 2, 3, 4, 4, 4, 4])


@pytest.mark.parametrize("chunk", [None, 1, 4, 7, 64])
def test_blocked_map_and_sum_equal_numpy(chunk):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(23, 3)), rng.uniform(size=23)
    theta = jnp.array([0.3, -0.2, 0.5])
    f = lambda t, xb: jnp.sin(xb @ t)
    for mesh in (None, parallel.point_mesh(1)):
        got = jax.jit(lambda t, m=mesh: parallel.map_blocks(f, t, x, chunk=chunk, mesh=m))(theta)
        np.testing.assert_allclose(got, np.sin(x @ np.asarray(theta)), rtol=1e-14)
        s = parallel.point_sum(
            lambda t, xb, wb: (jnp.sum(wb * f(t, xb)), jnp.sum(wb)), theta, x, w,
            chunk=chunk, mesh=mesh,
        )  # fmt: skip
        np.testing.assert_allclose(s[0], np.sum(w * np.sin(x @ np.asarray(theta))), rtol=1e-13)
        np.testing.assert_allclose(s[1], w.sum(), rtol=1e-14)
        # the gradient through the blocks (rematerialised) is the plain one
        g = jax.grad(lambda t, m=mesh: jnp.sum(parallel.map_blocks(f, t, x, chunk=chunk, mesh=m)))(
            theta
        )
        np.testing.assert_allclose(g, x.T @ np.cos(x @ np.asarray(theta)), rtol=1e-13)
