"""Pseudo-spectral Ricci–DeTurck flow on the torus Tⁿ = [0, L)ⁿ.

The state is the metric sampled on the uniform grid, ``(N,)*n + (n(n+1)/2,)`` independent
components. Spatial derivatives are exact derivatives of the trigonometric interpolant (FFT),
products are taken pointwise (Trefethen, *Spectral Methods in MATLAB*, ch. 3). The flow is

    ∂_t g_ij = −2 R_ij + ∇_i W_j + ∇_j W_i − 2 ∇_i∇_j φ + (2/n) λ r̄ g_ij

with W^k = g^{pq}(Γ^k_pq − Γ̃^k_pq) the DeTurck field for a flat background g̃ (Γ̃ = 0; Chow–
Knopf, *The Ricci Flow: An Introduction*, §3.3), which makes the system strictly parabolic;
``deturck=False`` drops it (Hamilton's flow in fixed coordinates, only weakly parabolic). The
optional φ term gives Perelman's modified flow dg/dt = −2(Ric + ∇∇φ) for a fixed φ (paper §3);
``normalised=True`` adds (2/n) r̄ g, r̄ = ∫R dV / ∫dV (Hamilton 1982, volume-preserving flow).

In two dimensions, for a conformally flat metric e^{2u}δ, W = (2 − n) e^{−2u}∇u = 0, so the
Ricci–DeTurck flow *is* Hamilton's flow ∂_t u = e^{−2u}Δu in the same coordinates.

Christoffel symbols are formed pointwise from FFT derivatives of g, and Ricci from FFT
derivatives of Γ:  R_bd = ∂_aΓ^a_db − ∂_dΓ^a_ab + Γ^a_aeΓ^e_db − Γ^a_deΓ^e_ab.
The right-hand side is de-aliased by the 2/3 rule (modes with |k_i| > N/3 set to zero).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .spectral import components_from_sym, sym_from_components


def wavenumbers(size: int, length: float) -> np.ndarray:
    """Angular wave numbers 2πk/L of ``numpy.fft.fftfreq`` order (Nyquist set to 0)."""
    k = np.fft.fftfreq(size, d=1.0 / size)
    if size % 2 == 0:
        k[size // 2] = 0.0
    return 2 * np.pi * k / length


def grid_gradient(f: Array, n: int, length: float) -> Array:
    """Spectral derivatives of grid values ``f`` of shape ``(N,)*n + tail``.

    Returns shape ``(N,)*n + tail + (n,)`` with the last index the derivative direction.
    """
    size = f.shape[0]
    k = wavenumbers(size, length)
    axes = tuple(range(n))
    fh = jnp.fft.fftn(f, axes=axes)
    tail = f.ndim - n
    out = []
    for m in range(n):
        shape = [1] * f.ndim
        shape[m] = size
        km = jnp.asarray(k).reshape(shape)
        out.append(jnp.fft.ifftn(1j * km * fh, axes=axes).real)
    del tail
    return jnp.stack(out, axis=-1)


def dealias(f: Array, n: int) -> Array:
    """2/3-rule filter on the grid axes of ``f`` (shape ``(N,)*n + tail``)."""
    size = f.shape[0]
    k = np.abs(np.fft.fftfreq(size, d=1.0 / size))
    keep1 = (k <= size / 3).astype(float)
    mask = keep1
    for _ in range(n - 1):
        mask = np.multiply.outer(mask, keep1)
    mask = jnp.asarray(mask).reshape((size,) * n + (1,) * (f.ndim - n))
    axes = tuple(range(n))
    return jnp.fft.ifftn(mask * jnp.fft.fftn(f, axes=axes), axes=axes).real


def grid_christoffel(g: Array, ginv: Array, n: int, length: float) -> Array:
    """Γ^k_ij on the grid, shape ``grid + (n, n, n)`` (index order k, i, j)."""
    dg = grid_gradient(g, n, length)  # [..., a, b, c] = ∂_c g_ab
    low = 0.5 * (
        jnp.einsum("...jli->...lij", dg)
        + jnp.einsum("...ilj->...lij", dg)
        - jnp.einsum("...ijl->...lij", dg)
    )
    return jnp.einsum("...kl,...lij->...kij", ginv, low)


def grid_ricci(gam: Array, n: int, length: float) -> Array:
    """Ricci tensor on the grid from Γ on the grid (FFT derivatives of Γ)."""
    dgam = grid_gradient(gam, n, length)  # [..., k, i, j, m] = ∂_m Γ^k_ij
    return (
        jnp.einsum("...adba->...bd", dgam)
        - jnp.einsum("...aabd->...bd", dgam)
        + jnp.einsum("...aae,...edb->...bd", gam, gam)
        - jnp.einsum("...ade,...eab->...bd", gam, gam)
    )


def grid_scalar_curvature(g: Float[Array, ...], n: int, length: float) -> Array:
    """Scalar curvature R on the grid for metric values ``g`` of shape ``grid + (n, n)``."""
    ginv = jnp.linalg.inv(g)
    ric = grid_ricci(grid_christoffel(g, ginv, n, length), n, length)
    return jnp.einsum("...bd,...bd->...", ginv, ric)


def torus_ricci_deturck_rhs(
    comps: Array,
    n: int,
    length: float,
    deturck: bool = True,
    normalised: bool = False,
    phi_hessian: Array | None = None,
    filtered: bool = True,
) -> Array:
    """∂_t of the independent components (see module docstring)."""
    g = sym_from_components(comps, n)
    ginv = jnp.linalg.inv(g)
    gam = grid_christoffel(g, ginv, n, length)
    ric = grid_ricci(gam, n, length)
    rhs = -2.0 * ric
    if deturck:
        w_up = jnp.einsum("...ij,...kij->...k", ginv, gam)
        w_low = jnp.einsum("...jk,...k->...j", g, w_up)
        dw = grid_gradient(w_low, n, length)  # [..., j, i] = ∂_i W_j
        nabla_w = jnp.einsum("...ji->...ij", dw) - jnp.einsum("...kij,...k->...ij", gam, w_low)
        rhs = rhs + nabla_w + jnp.swapaxes(nabla_w, -1, -2)
    if phi_hessian is not None:
        rhs = rhs - 2.0 * phi_hessian
    if normalised:
        r = jnp.einsum("...bd,...bd->...", ginv, ric)
        dv = jnp.sqrt(jnp.linalg.det(g))
        rbar = jnp.sum(r * dv) / jnp.sum(dv)
        rhs = rhs + (2.0 / n) * rbar * g
    out = components_from_sym(rhs)
    return dealias(out, n) if filtered else out
