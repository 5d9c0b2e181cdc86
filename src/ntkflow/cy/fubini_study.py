"""The Fubini-Study metric on P^n (and products), with Kähler moduli t per factor.
K_FS = Σ_f (t_f/π) log |z_f|²; g_{i j̄} = (t/π)(δ_ij/|z|² − z̄_i z_j/|z|⁴) (Griffiths-Harris
p. 30). Derivation: docs/derivations.md#cy-fubini_study."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from ntkflow.geometry.kahler import pullback

from .kahler import pullback_jacobian
from .projective import _factor_slices, _moduli


def fs_potential(z: Complex[Array, " n"], t: float = 1.0) -> Float[Array, ""]:
    """K = (t/π) log sum_i |z_i|² on one P^n."""
    return (t / jnp.pi) * jnp.log(jnp.sum(jnp.abs(z) ** 2))


def fs_metric_pn(z: Complex[Array, " n"], t: float = 1.0) -> Complex[Array, "n n"]:
    """Closed form g_{i j̄} = (t/π)(δ_ij/|z|² − z̄_i z_j/|z|⁴) on one P^n."""
    r2 = jnp.sum(jnp.abs(z) ** 2)
    return (t / jnp.pi) * (jnp.eye(z.shape[0]) / r2 - jnp.outer(jnp.conj(z), z) / r2**2)


class FubiniStudy(eqx.Module):
    """The FS potential on prod P^{n_f}: K(z) = sum_f (t_f/π) log |z_f|² (callable, one point)."""

    ambient: tuple[int, ...] = eqx.field(static=True)
    t: tuple[float, ...] = eqx.field(static=True)

    def __init__(self, ambient: Sequence[int], t: Sequence[float] | float | None = None):
        self.ambient = tuple(int(a) for a in ambient)
        self.t = _moduli(t, len(self.ambient))

    def __call__(self, z: Complex[Array, " n"]) -> Float[Array, ""]:
        return sum(
            fs_potential(z[s], tf)
            for s, tf in zip(_factor_slices(self.ambient), self.t, strict=True)
        )

    def ambient_metric(self, z: Complex[Array, " n"]) -> Complex[Array, "n n"]:
        """Block-diagonal closed-form ambient metric."""
        n = z.shape[0]
        g = jnp.zeros((n, n), dtype=jnp.complex128)
        for s, tf in zip(_factor_slices(self.ambient), self.t, strict=True):
            g = g.at[s, s].set(fs_metric_pn(z[s], tf))
        return g

    def pullback_metric(
        self, z: Complex[Array, " n"], jac: Complex[Array, "d n"]
    ) -> Complex[Array, "d d"]:
        """J g_FS Jᴴ: the closed-form metric pulled back along the rows of ``jac``."""
        return pullback(self.ambient_metric(z), jac)


def fs_metric(variety, z: Complex[Array, " n"], patch, elim, t=None) -> Complex[Array, "d d"]:
    """FS metric pulled back to the variety in the chart (patch, elim): J g_FS Jᴴ."""
    J = pullback_jacobian(variety, z, patch, elim)
    return FubiniStudy(variety.ambient, t).pullback_metric(z, J)


def fs_det(variety, z, patch, elim, t=None) -> Float[Array, ""]:
    """det of the pulled-back FS metric (real, positive)."""
    return jnp.real(jnp.linalg.det(fs_metric(variety, z, patch, elim, t)))
