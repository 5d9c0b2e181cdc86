"""The Gaussian kernel, once: k(x, x') = exp(−|x − x'|²/(2ℓ²)) with lengthscale ℓ, for one pair
(:class:`GaussianKernel`, optionally the normalised heat kernel of the δ-limit, paper §4, or on a
torus), for all pairs (:func:`gaussian_matrix`), and as random Fourier features
(:class:`RandomFourierFeatures`, Rahimi & Recht 2007). The Cos-net and Gauss-net NNGP
(nets/features.py) is this kernel with ℓ² = d/σ_b².
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float


class GaussianKernel(eqx.Module):
    """k(x, x') = exp(−|Δ|²/(2ℓ²)), Δ = x − x' (minimal image when ``period`` is set), times
    (2πℓ²)^{−d/2} when ``normalised``."""

    lengthscale: float
    period: float | None = eqx.field(static=True, default=None)
    normalised: bool = eqx.field(static=True, default=False)

    def displacement(self, x, y):
        d = x - y
        if self.period is not None:
            d = d - self.period * jnp.round(d / self.period)
        return d

    def __call__(self, x, y):
        d = self.displacement(x, y)
        s2 = self.lengthscale**2
        k = jnp.exp(-(d @ d) / (2 * s2))
        return (2 * jnp.pi * s2) ** (-x.shape[0] / 2) * k if self.normalised else k


def gaussian_matrix(x1: Float[Array, "N1 d"], x2: Float[Array, "N2 d"], lengthscale: float):
    """k(x1_i, x2_j) = exp(−Σ(x1_i − x2_j)²/(2ℓ²)) for all pairs, (N1, N2)."""
    # Σ(x − x')², never |x|² + |x'|² − 2x·x': ℓ = 10⁻⁸ survives in float64
    sq = jnp.sum((x1[:, None, :] - x2[None, :, :]) ** 2, axis=-1)
    return jnp.exp(-sq / (2 * lengthscale**2))


class RandomFourierFeatures(eqx.Module):
    """ψ_r(u) = √(2/R) cos(ω_r·u + b_r), ω_r ~ N(0, ℓ⁻² I), b_r ~ U[0, 2π):
    Σ_r ψ_r(u) ψ_r(u') → exp(−|u − u'|²/(2ℓ²)) as R → ∞ (Rahimi & Recht 2007); the NTK of a
    cos-net of width R with only its read-out trained (talk ``seeds/001``)."""

    omega: Float[Array, "R m"]
    bias: Float[Array, " R"]

    def __init__(self, n_inputs: int, n_features: int, lengthscale: float, *, key):
        if lengthscale <= 0 or n_features < 1:
            raise ValueError(
                f"RandomFourierFeatures: need lengthscale > 0 and n_features >= 1, got "
                f"{lengthscale}, {n_features}"
            )
        k1, k2 = jax.random.split(key)
        self.omega = jax.random.normal(k1, (n_features, n_inputs), jnp.float64) / lengthscale
        self.bias = jax.random.uniform(k2, (n_features,), jnp.float64, 0.0, 2 * jnp.pi)

    @property
    def scale(self):
        return jnp.sqrt(2.0 / self.omega.shape[0])

    def __call__(self, u: Float[Array, " m"]) -> Float[Array, " R"]:
        return self.scale * jnp.cos(self.omega @ u + self.bias)

    def metric_features(self, u, D, H) -> Complex[Array, "R d d"]:
        """∂_a ∂̄_b ψ_r(u(z)) = −√(2/R)[cos θ_r (ω_r·D_a) conj(ω_r·D_b) + sin θ_r ω_r·H_ab],
        θ_r = ω_r·u + b_r, from the jets D_{αa} = ∂_a u_α, H_{αab} = ∂_a∂̄_b u_α (chain rule)."""
        th = self.omega @ u + self.bias
        wd = self.omega @ D  # (R, d)
        wh = jnp.einsum("rm,mab->rab", self.omega, H)
        return -self.scale * (
            jnp.cos(th)[:, None, None] * wd[:, :, None] * wd.conj()[:, None, :]
            + jnp.sin(th)[:, None, None] * wh
        )
