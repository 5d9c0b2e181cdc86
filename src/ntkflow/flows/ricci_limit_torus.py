"""The Gaussian-kernel Ricci flow on the torus Tⁿ = [0, 2π)ⁿ, spectral Galerkin form.
dg_ij(x)/dt = −2 ∫ G_ℓ(x − y) R_ij(y) dⁿy = −2 (e^{−ℓ²|k|²/2} R̂_ij)ˇ on the grid's
trigonometric interpolant. Derivation: docs/derivations.md#flows-ricci_limit."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..geometry.ricci_flow import ricci_flow
from ..geometry.ricci_flow_torus import TorusFlow, dealias, grid_geometry
from ..geometry.spectral import SpectralTorusMetric, components_from_sym, sym_from_components


def gaussian_multiplier(size: int, n: int, length: float, lengthscale) -> Array:
    """Fourier multiplier ``exp(−ℓ²|k|²/2)`` of the normalised (periodised) Gaussian on the
    ``size``ⁿ grid of [0, L)ⁿ, shape ``(size,)*n``: the exact convolution of the grid's
    trigonometric interpolant with G_ℓ (Poisson summation)."""
    k = 2 * np.pi * np.fft.fftfreq(size, d=length / size)
    k2 = sum(np.meshgrid(*[k**2] * n, indexing="ij", sparse=True))
    return jnp.exp(-0.5 * jnp.asarray(lengthscale) ** 2 * jnp.asarray(k2))


def convolve_periodic(f: Array, mult: Array) -> Array:
    """``G_ℓ ⋆ f`` for grid values ``f`` (shape ``(N,)*n + tail``) and the multiplier of
    :func:`gaussian_multiplier`."""
    n = mult.ndim
    axes = tuple(range(n))
    m = mult.reshape(mult.shape + (1,) * (f.ndim - n))
    return jnp.fft.ifftn(m * jnp.fft.fftn(f, axes=axes), axes=axes).real


class GaussianTorusFlow(TorusFlow):
    """``∂_t g = −2 G_ℓ ⋆ Ric`` on the grid (Hamilton's gauge: no DeTurck term); the Ricci
    tensor is the reference solver's (:func:`~ntkflow.geometry.ricci_flow_torus.grid_geometry`),
    so ℓ → 0 is exactly its ``deturck=False`` right-hand side."""

    mult: Array = None

    def __call__(self, t, comps, args):
        ric = grid_geometry(comps, self.n, self.length).ric
        return dealias(components_from_sym(-2.0 * convolve_periodic(ric, self.mult)), self.n)


@eqx.filter_jit
def _solve(term, y0, t1, rtol, atol):
    from .ricci_limit import solve_to

    return solve_to(term, y0, t1, *term.solver(y0, rtol, atol))


def wavy_torus2(x):
    """A non-round conformal metric on T²: ``e^{2u₀} δ``, u₀ = 0.3 cos x₁ + 0.2 sin(x₁ + x₂)."""
    u = 0.3 * jnp.cos(x[0]) + 0.2 * jnp.sin(x[0] + x[1])
    return jnp.exp(2 * u) * jnp.eye(2, dtype=x.dtype)


def wavy_torus3(x):
    """A non-conformal, non-homogeneous metric on T³: ``e^{2u₀} δ + a aᵀ`` with
    u₀ = 0.3 cos x₁ + 0.2 sin(x₂ + x₃), a = 0.4 (sin x₂, cos x₃, sin x₁)."""
    u = 0.3 * jnp.cos(x[0]) + 0.2 * jnp.sin(x[1] + x[2])
    a = 0.4 * jnp.stack([jnp.sin(x[1]), jnp.cos(x[2]), jnp.sin(x[0])])
    return jnp.exp(2 * u) * jnp.eye(3, dtype=x.dtype) + jnp.outer(a, a)


TORI = {"torus2": (wavy_torus2, 2, 32), "torus3": (wavy_torus3, 3, 24)}


class TorusLimit:
    """Reference (``geometry.ricci_flow``, ``deturck=False``) and Gaussian-kernel flows of one
    torus at one time ``t``, on the ``size``ⁿ grid."""

    def __init__(self, manifold: str, t: float, size: int | None = None):
        g0, self.n, default = TORI[manifold]
        self.size = int(size or default)
        self.t, self.length = float(t), 2 * np.pi
        m0 = SpectralTorusMetric.from_function(g0, self.n, self.size)
        self.y0 = components_from_sym(m0.grid_values(self.size))
        sol = ricci_flow(m0, self.t, size=self.size, ts=[self.t], deturck=False)
        self.reference = np.asarray(sym_from_components(sol.state(self.t), self.n))

    @property
    def points(self) -> int:
        return self.size**self.n

    def flow(self, lengthscale: float, rtol: float = 1e-10, atol: float = 1e-12) -> np.ndarray:
        """The Gaussian-kernel flow's metric at time t on the grid, shape ``(N,)*n + (n, n)``."""
        from .kernel_flow import FlowError

        mult = gaussian_multiplier(self.size, self.n, self.length, lengthscale)
        term = GaussianTorusFlow(self.n, self.size, self.length, False, False, mult)
        y, ok, _ = _solve(term, self.y0, self.t, rtol, atol)
        if not bool(ok):
            raise FlowError(f"Gaussian-kernel flow on T^{self.n}, ℓ = {lengthscale}: solve failed")
        return np.asarray(sym_from_components(y, self.n))

    def distance(self, g: np.ndarray) -> float:
        """Relative L² distance to the reference over the torus (uniform grid measure)."""
        num = ((g - self.reference) ** 2).sum()
        return float(np.sqrt(num / (self.reference**2).sum()))
