"""Pseudo-spectral Ricci–DeTurck flow on the torus Tⁿ = [0, L)ⁿ (Chow–Knopf §3.3).
∂_t g_ij = −2 R_ij + ∇_i W_j + ∇_j W_i + (2/n) λ r̄ g_ij,  W^k = g^{pq}(Γ^k_pq − Γ̃^k_pq).
Derivation: docs/derivations.md#geometry-ricci_flow_torus."""

from __future__ import annotations

import functools
from typing import NamedTuple

import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .curvature import christoffel_from_jet, ricci_from_connection
from .spectral import SpectralTorusMetric, components_from_sym, sym_from_components, torus_grid


def grid_gradient(f: Array, n: int, length: float) -> Array:
    """Spectral derivatives of grid values ``f`` (shape ``(N,)*n + tail``), shape
    ``(N,)*n + tail + (n,)`` with the last index the derivative direction."""
    size, axes = f.shape[0], tuple(range(n))
    k = np.fft.fftfreq(size, d=1.0 / size)
    if size % 2 == 0:
        k[size // 2] = 0.0  # Nyquist
    k = jnp.asarray(2 * np.pi * k / length)
    fh = jnp.fft.fftn(f, axes=axes)
    # k along axis m: shape (N, 1, ..., 1) broadcasts against the trailing axes
    dk = [1j * k.reshape((size,) + (1,) * (f.ndim - 1 - m)) for m in range(n)]
    return jnp.stack([jnp.fft.ifftn(d * fh, axes=axes).real for d in dk], axis=-1)


def dealias(f: Array, n: int) -> Array:
    """2/3-rule filter on the grid axes of ``f`` (shape ``(N,)*n + tail``)."""
    size, axes = f.shape[0], tuple(range(n))
    keep = (np.abs(np.fft.fftfreq(size, d=1.0 / size)) <= size / 3).astype(float)
    mask = functools.reduce(np.multiply.outer, [keep] * n)
    mask = jnp.asarray(mask).reshape((size,) * n + (1,) * (f.ndim - n))
    return jnp.fft.ifftn(mask * jnp.fft.fftn(f, axes=axes), axes=axes).real


class GridGeometry(NamedTuple):
    """g, g⁻¹, Γ^k_ij, R_ij, R, W^k = g^{ij}Γ^k_ij and sqrt(det g) on the grid."""

    g: Array
    ginv: Array
    gam: Array
    ric: Array
    r: Array
    w_up: Array
    sqrt_det: Array


def grid_geometry(comps: Array, n: int, length: float) -> GridGeometry:
    """Γ^k_ij = ½ g^{kl}(∂_i g_jl + ∂_j g_il − ∂_l g_ij) and the Ricci tensor
    (docs/derivations.md#geometry-ricci_flow_torus) on the grid, from the independent
    components ``comps``."""
    g = sym_from_components(comps, n)
    ginv = jnp.linalg.inv(g)
    dg = grid_gradient(g, n, length)  # [..., a, b, c] = ∂_c g_ab
    gam = christoffel_from_jet(g, dg, ginv)
    # ∂Γ spectrally from Γ itself (not from ∂²g): [..., k, i, j, m] = ∂_m Γ^k_ij
    ric = ricci_from_connection(gam, grid_gradient(gam, n, length))
    r = jnp.einsum("...bd,...bd->...", ginv, ric)
    w_up = jnp.einsum("...ij,...kij->...k", ginv, gam)
    return GridGeometry(g, ginv, gam, ric, r, w_up, jnp.sqrt(jnp.linalg.det(g)))


class TorusFlow(eqx.Module):
    """∂_t of the independent components on the grid (see module docstring)."""

    n: int = eqx.field(static=True)
    size: int = eqx.field(static=True)
    length: float = eqx.field(static=True)
    deturck: bool = eqx.field(static=True, default=True)
    normalised: bool = eqx.field(static=True, default=False)
    name = "torus"

    def __call__(self, t, comps, args):
        n, length = self.n, self.length
        geo = grid_geometry(comps, n, length)
        rhs = -2.0 * geo.ric
        if self.deturck:
            w_low = jnp.einsum("...jk,...k->...j", geo.g, geo.w_up)
            dw = grid_gradient(w_low, n, length)  # [..., j, i] = ∂_i W_j
            gam_w = jnp.einsum("...kij,...k->...ij", geo.gam, w_low)
            nabla_w = jnp.einsum("...ji->...ij", dw) - gam_w
            rhs = rhs + nabla_w + jnp.swapaxes(nabla_w, -1, -2)
        if self.normalised:
            rbar = jnp.sum(geo.r * geo.sqrt_det) / jnp.sum(geo.sqrt_det)
            rhs = rhs + (2.0 / n) * rbar * geo.g
        return dealias(components_from_sym(rhs), n)

    def solver(self, y, rtol, atol):
        """Tsit5 with dt ≤ 2/λ, λ = n k_max² max g^{-1}: the principal symbol g^{ab}k_a k_b of
        the Ricci–DeTurck operator is largest for the highest kept mode |k_i| = N/3."""
        kmax = 2 * jnp.pi / self.length * (y.shape[0] // 3)
        eig = jnp.linalg.eigvalsh(sym_from_components(y, self.n))[..., 0]
        dtmax = 2.0 / (self.n * kmax**2 * jnp.max(1.0 / eig))
        return diffrax.Tsit5(), diffrax.PIDController(rtol=rtol, atol=atol, dtmax=dtmax)

    def metric(self, y):
        return SpectralTorusMetric.from_grid_values(sym_from_components(y, self.n), self.length)

    def scalar_curvature(self, y):
        return grid_geometry(y, self.n, self.length).r

    def min_eigenvalue(self, y):
        return np.linalg.eigvalsh(np.asarray(sym_from_components(y, self.n))).min()

    @property
    def grid(self):
        return torus_grid(self.n, self.size, self.length)
