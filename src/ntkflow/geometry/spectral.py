"""A spectral (Fourier-series) metric on the torus Tⁿ = [0, L)ⁿ (Trefethen ch. 3).
g_ij(x) = Σ_m A_ij,m cos(2π k_m·x / L) + B_ij,m sin(2π k_m·x / L).
Details: docs/derivations.md#geometry-spectral."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .metric import MetricError


def torus_grid(n: int, size: int, length: float = 2 * np.pi) -> Float[Array, "N n"]:
    """The uniform grid on [0, L)ⁿ, ``size`` points per axis, shape ``(size**n, n)`` in
    C (row-major, ``indexing="ij"``) order, matching ``values.reshape(size, ..., size)``."""
    mesh = jnp.meshgrid(*[jnp.arange(size) * (length / size)] * n, indexing="ij")
    return jnp.stack([m.reshape(-1) for m in mesh], axis=-1)


def half_wavevectors(n: int, size: int) -> np.ndarray:
    """Integer wave vectors k with |k_i| < size/2 (no Nyquist), keeping k = 0 and, of each
    pair ±k, the one whose first non-zero entry is positive. Shape ``(M, n)``."""
    kmax = (size - 1) // 2
    rng = np.arange(-kmax, kmax + 1)
    ks = np.stack(np.meshgrid(*([rng] * n), indexing="ij"), axis=-1).reshape(-1, n)
    first_nonzero = ks[np.arange(len(ks)), np.argmax(ks != 0, axis=1)]
    return ks[first_nonzero >= 0]


def sym_from_components(c: Array, n: int) -> Array:
    """Symmetric matrix (..., n, n) from its components (..., n(n+1)/2) in triu order."""
    i, j = np.triu_indices(n)
    g = jnp.zeros(c.shape[:-1] + (n, n), c.dtype)
    g = g.at[..., i, j].set(c)
    return g.at[..., j, i].set(c)


def components_from_sym(g: Array) -> Array:
    """The independent components (..., n(n+1)/2) of symmetric matrices (..., n, n)."""
    i, j = np.triu_indices(g.shape[-1])
    return g[..., i, j]


class SpectralTorusMetric(eqx.Module):
    """Metric on Tⁿ = [0, L)ⁿ with Fourier coefficients per independent component; call on
    one point of shape (n,)."""

    wavevectors: Array  # (M, n) integers
    cos_coeffs: Float[Array, "c M"]  # c = n(n+1)/2
    sin_coeffs: Float[Array, "c M"]
    length: float = eqx.field(static=True, default=2 * np.pi)

    @property
    def dim(self) -> int:
        return self.wavevectors.shape[1]

    def components(self, x: Float[Array, " n"]) -> Float[Array, " c"]:
        phase = (2 * jnp.pi / self.length) * (self.wavevectors @ x)
        return self.cos_coeffs @ jnp.cos(phase) + self.sin_coeffs @ jnp.sin(phase)

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, "n n"]:
        if x.shape != (self.dim,):
            raise MetricError(
                f"SpectralTorusMetric on T^{self.dim}: expected a point of shape "
                f"({self.dim},), got {x.shape}"
            )
        return sym_from_components(self.components(x), self.dim)

    @classmethod
    def from_grid_values(
        cls, values: Float[Array, "... n n"], length: float = 2 * np.pi
    ) -> SpectralTorusMetric:
        """Interpolate metric samples on the uniform grid (shape ``(N,)*n + (n, n)``) by FFT."""
        values = jnp.asarray(values)
        n = values.shape[-1]
        if values.ndim != n + 2 or values.shape[-2] != n:
            raise MetricError(
                f"from_grid_values: expected samples of shape (N,)*{n} + ({n}, {n}), "
                f"got {values.shape}"
            )
        size = values.shape[0]
        if any(s != size for s in values.shape[:n]):
            raise MetricError(f"from_grid_values: grid must be N^{n}, got {values.shape[:n]}")
        # c_k with f = Σ c_k e^{ik·x}, shape (M, c) on the half set of wave vectors
        chat = jnp.fft.fftn(components_from_sym(values), axes=tuple(range(n))) / size**n
        ks = half_wavevectors(n, size)
        ck = chat[tuple((ks % size).T)]
        # f = c0 + Σ_half 2 Re(c_k e^{ik·x}) = c0 + Σ 2 Re c_k cos − 2 Im c_k sin
        factor = np.where(np.all(ks == 0, axis=1), 1.0, 2.0)[:, None]
        return cls(jnp.asarray(ks), (factor * ck.real).T, (-factor * ck.imag).T, length)

    @classmethod
    def from_function(
        cls,
        metric: Callable[[Array], Array],
        n: int,
        size: int,
        length: float = 2 * np.pi,
    ) -> SpectralTorusMetric:
        """Sample a (periodic) metric callable on the ``size``ⁿ grid and interpolate by FFT."""
        vals = jax.vmap(metric)(torus_grid(n, size, length))
        return cls.from_grid_values(vals.reshape((size,) * n + (n, n)), length)

    def grid_values(self, size: int) -> Array:
        """Evaluate on the uniform ``size``ⁿ grid, shape ``(size,)*n + (n, n)``."""
        n = self.dim
        return jax.vmap(self)(torus_grid(n, size, self.length)).reshape((size,) * n + (n, n))
