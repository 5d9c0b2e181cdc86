"""The Gaussian-kernel Ricci limit (ntkflow.flows.ricci_limit): distance ≈ C ℓ² to Ricci flow."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkflow  # noqa: F401  (float64)
from ntkflow.flows.ricci_limit import fit_order, ricci_limit
from ntkflow.flows.ricci_limit_sphere import (
    gaussian_box_matrix,
    reference_coefficients,
    round_chart,
    s3_coframe_chart,
    s3_frame_tensor,
)
from ntkflow.flows.ricci_limit_torus import convolve_periodic, gaussian_multiplier
from ntkflow.geometry import ricci_tensor
from ntkflow.geometry.curvature import metric_jet, ricci_from_jet
from ntkflow.geometry.ricci_flow_sphere import s3_frame_ricci
from ntkflow.kernels.gaussian import GaussianKernel

ORDER_TOL = 0.25  # |p − 2|: the O(ℓ⁴) term and the discretisation at CI sizes


def test_torus_multiplier_is_the_gaussian_sum_on_a_fine_grid():
    """e^{−ℓ²|k|²/2} on a coarse grid = Σ_b h² G_ℓ(x − y_b) f(y_b) over a fine grid (h ≪ ℓ)."""
    f = lambda x: np.cos(x[..., 0] + 2 * x[..., 1]) + 0.5 * np.sin(3 * x[..., 0]) ** 2
    ell, coarse, fine = 0.3, 16, 128
    grid = lambda m: np.stack(np.meshgrid(*[np.arange(m) * 2 * np.pi / m] * 2, indexing="ij"), -1)
    xs, ys = grid(coarse), grid(fine).reshape(-1, 2)
    spectral = convolve_periodic(jnp.asarray(f(xs)), gaussian_multiplier(coarse, 2, 2 * np.pi, ell))
    kern = GaussianKernel(ell, 2 * np.pi, normalised=True)
    gram = jax.vmap(lambda x: jax.vmap(lambda y: kern(x, y))(jnp.asarray(ys)))
    direct = gram(jnp.asarray(xs.reshape(-1, 2))) @ f(ys) * (2 * np.pi / fine) ** 2
    np.testing.assert_allclose(spectral.ravel(), direct, atol=1e-10)


@pytest.mark.parametrize("ell", [0.3, 0.05, 0.01])
def test_box_matrix_is_the_gaussian_integral_over_the_box(ell):
    """K f = ∫_box g_ℓ(x − y) f(y) dy, against the trapezoid rule on 2·10⁵ points."""
    ax = (np.arange(40) - 20) * 0.1
    f = lambda y: np.exp(-(y**2)) * np.cos(2 * y)
    yf = np.linspace(ax[0], ax[-1], 200_001)
    wf = np.full(yf.size, yf[1] - yf[0])
    wf[[0, -1]] /= 2
    gauss = np.exp(-0.5 * ((ax[:, None] - yf[None]) / ell) ** 2) / (np.sqrt(2 * np.pi) * ell)
    np.testing.assert_allclose(
        gaussian_box_matrix(ax, ell) @ f(ax), gauss @ (wf * f(yf)), atol=1e-6
    )


def test_ricci_from_jet_of_the_chart_berger_metric_on_a_grid():
    """The flow's Ricci in its own layout (a grid of points in front) for the non-conformal
    g = Σ λ_a σ^a ⊗ σ^a in the stereographic chart: Ric = Σ 4ρ_a σ^a ⊗ σ^a, ρ the Milnor frame
    Ricci of A = λ/4 (the Euler-angle coframe of s3_frame_ricci is 2σ)."""
    lam = jnp.array([1.0, 1.3, 0.5])
    g = lambda x: sum(c * s3_frame_tensor(a)(x) for a, c in enumerate(lam))
    ax = jnp.array([-0.6, 0.1, 0.9])
    xs = jnp.stack(jnp.meshgrid(ax, ax, ax, indexing="ij"), -1)  # (3, 3, 3, 3)
    jets = jax.vmap(lambda x: metric_jet(g, x))(xs.reshape(-1, 3))
    ric = ricci_from_jet(*(j.reshape((3, 3, 3) + j.shape[1:]) for j in jets))
    rho = 4 * s3_frame_ricci(lam / 4)
    sig = jax.vmap(s3_coframe_chart)(xs.reshape(-1, 3)).reshape(3, 3, 3, 3, 3)
    expect = jnp.einsum("a,...ai,...aj->...ij", rho, sig, sig)
    np.testing.assert_allclose(ric, expect, atol=1e-12)


def test_s3_coframe_gives_the_round_metric_and_reference_closed_forms():
    x = jnp.array([0.7, -0.1, 0.4])
    round3 = lambda y: sum(s3_frame_tensor(a)(y) for a in range(3))
    np.testing.assert_allclose(round3(x), round_chart(x), atol=1e-14)
    np.testing.assert_allclose(ricci_tensor(round3, x), 2 * round_chart(x), atol=1e-12)
    ts = np.array([0.0, 0.02, 0.05])
    # round S²: g(t) = (1 − 2t) g₀; round S³ (left-invariant ODE): (1 − 4t) g₀
    np.testing.assert_allclose(reference_coefficients("sphere2", np.ones(1), ts)[:, 0], 1 - 2 * ts)
    lam = reference_coefficients("sphere3", np.ones(3), ts)
    np.testing.assert_allclose(lam, np.outer(1 - 4 * ts, np.ones(3)), rtol=1e-9)
    # Berger: the two equal axes stay equal and the squashed fibre grows relative to them
    lam = reference_coefficients("berger3", np.array([1.0, 1.0, 0.5]), ts)
    np.testing.assert_allclose(lam[:, 0], lam[:, 1], rtol=1e-12)
    assert np.all(np.diff(lam[:, 2] / lam[:, 0]) > 0)


def _limit(manifold, ells, t, **kw):
    out = ricci_limit(manifold, ells, t, **kw)
    d = np.array(out["distances"])
    assert np.all(np.isfinite(d)) and np.all(np.diff(d) < 0), d
    assert abs(out["order"] - 2) < ORDER_TOL, out
    assert out["order"] == pytest.approx(fit_order(ells, d))
    return out


def test_torus2_limit():
    _limit("torus2", (0.4, 0.2, 0.1, 0.05), 0.1, size=16)


def test_torus3_limit():
    _limit("torus3", (0.3, 0.15, 0.075), 0.05, size=12)


def test_sphere2_limit():
    out = _limit("sphere2", (0.2, 0.1, 0.05), 0.05, spacing=0.1)
    assert out["points"] > 0 and out["t"] == 0.05


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError, match="unknown manifold"):
        ricci_limit("klein", (0.1,), 0.1)
    with pytest.raises(ValueError, match="must be positive"):
        ricci_limit("torus2", (0.1, -0.2), 0.1)


@pytest.mark.slow
def test_berger3_limit_on_a_coarse_grid():
    """S³ with the Hopf fibre squashed (λ₃ = 1/2) on a coarse CI grid: the distance falls;
    at ℓ ≈ 0.25 the O(ℓ⁴) term lowers the fitted order (1.6 measured; 2 at the defaults)."""
    out = ricci_limit("berger3", (0.25, 0.18, 0.125), 0.02, spacing=0.25)
    d = np.array(out["distances"])
    assert np.all(np.diff(d) < 0) and abs(out["order"] - 2) < 0.6, out
