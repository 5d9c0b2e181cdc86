"""Metric heads: modules that turn networks into metrics x ↦ g_ij(x; θ) (paper §1–3).
g = g_ref + S (``'additive'``), g_ref + L Lᵀ (``'cholesky'``), g_ref^{1/2} exp(S) g_ref^{1/2}.
Heads and forms: docs/derivations.md#nets-heads."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from ntkflow.geometry.kahler import complex_hessian

from .dense import check_choice, check_point, check_size
from .trainable import frozen_mask, trainable

FORMS = ("additive", "cholesky", "exp")


def sym(m: Array) -> Array:
    return 0.5 * (m + m.T)


def sqrtm_spd(a: Float[Array, "n n"], iterations: int = 30) -> Float[Array, "n n"]:
    """Principal square root of a symmetric positive-definite matrix by the Denman–Beavers
    iteration Y ← (Y + Z⁻¹)/2, Z ← (Z + Y⁻¹)/2 on a/‖a‖_F (Higham, *Functions of Matrices*,
    §6.3). Unlike an eigendecomposition it stays differentiable at repeated eigenvalues.
    """
    c = jnp.linalg.norm(a)
    eye = jnp.eye(a.shape[0], dtype=a.dtype)

    def step(_, yz):
        y, z = yz
        return 0.5 * (y + jnp.linalg.inv(z)), 0.5 * (z + jnp.linalg.inv(y))

    y, _ = jax.lax.fori_loop(0, iterations, step, (a / c, eye))
    return sym(y) * jnp.sqrt(c)


def expm_sym(s: Float[Array, "n n"], squarings: int = 8, order: int = 12) -> Float[Array, "n n"]:
    """exp(S) by scaling and squaring with a fixed Taylor polynomial: (T_order(S/2^k))^(2^k),
    k = ``squarings`` (Higham, *Functions of Matrices*, §10.3); truncation error below 1e-15
    relative while ‖S‖₂ ≲ 50 (docs/derivations.md#nets-heads-expm_sym)."""
    a = s / 2.0**squarings
    term = total = jnp.eye(s.shape[0], dtype=s.dtype)
    for k in range(1, order + 1):
        term = term @ a / k
        total = total + term
    for _ in range(squarings):
        total = total @ total
    return total


def apply_form(
    form: str, m: Float[Array, "n n"], g_ref: Float[Array, "n n"] | None
) -> Float[Array, "n n"]:
    """Metric from the raw network matrix ``m`` and ``g_ref`` (``None`` means δ_ij)."""
    g0 = jnp.eye(m.shape[0], dtype=m.dtype) if g_ref is None else g_ref
    if form == "additive":
        return g0 + sym(m)
    if form == "cholesky":
        return g0 + jnp.tril(m) @ jnp.tril(m).T
    if form == "exp":
        e = expm_sym(sym(m))
        if g_ref is None:
            return sym(e)
        r = sqrtm_spd(g_ref)
        return sym(r @ e @ r)
    raise ValueError(f"unknown form {form!r}; known: {FORMS}")


def _out_shape(net, x) -> tuple[int, ...]:
    return jax.eval_shape(net, x).shape


class _Head(eqx.Module):
    """Shared by the heads: only the network ``self.<_trained>`` trains; a metric head is
    g = form(raw(x)) about ``g_ref``."""

    _trained = "net"

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, "n n"]:
        n, g_ref = self.n, None if self.g_ref is None else self.g_ref(x)
        if g_ref is not None and g_ref.shape != (n, n):
            raise ValueError(
                f"{type(self).__name__}: g_ref must return an ({n}, {n}) matrix, got {g_ref.shape}"
            )
        return apply_form(self.form, self.raw(x), g_ref)

    def trainable_mask(self):
        net = getattr(self, self._trained)
        return eqx.tree_at(lambda m: getattr(m, self._trained), frozen_mask(self), trainable(net))


class _MetricHead(_Head):
    g_ref: Callable | None
    n: int = eqx.field(static=True)
    form: str = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def __init__(
        self, net, n: int, *, form: str = "additive", g_ref: Callable | None = None, scale=1.0
    ):
        check_size(n, "n (dimension)", type(self).__name__)
        check_choice(form, FORMS, "form", type(self).__name__)
        setattr(self, self._trained, self._checked(net, n))
        self.g_ref, self.n, self.form, self.scale = g_ref, n, form, scale


class IndependentComponents(_MetricHead):
    """g = form(M) with M_ij = M_ji = scale·f_(ij)(x), one scalar net per i ≤ j.

    ``nets`` lists the n(n+1)/2 scalar networks in row-major upper-triangle order
    (``jnp.triu_indices(n)``); each takes the point x of shape (n,).
    """

    _trained = "nets"
    nets: tuple

    @staticmethod
    def _checked(nets: Sequence[Callable], n: int) -> tuple:
        m = n * (n + 1) // 2
        if len(nets) != m:
            raise ValueError(
                f"IndependentComponents: an {n}x{n} metric has {m} independent components, "
                f"so it needs {m} scalar nets; got {len(nets)}"
            )
        x0 = jnp.zeros((n,))
        for c, net in enumerate(nets):
            shape = _out_shape(net, x0)
            if shape != ():
                raise ValueError(
                    f"IndependentComponents: net {c} must return a scalar at a point of "
                    f"dimension {n}, got shape {shape}"
                )
        return tuple(nets)

    @classmethod
    def from_factory(cls, factory: Callable, n: int, *, key, **kwargs) -> IndependentComponents:
        """Build with ``factory(key)`` (a scalar net) for each of the n(n+1)/2 components."""
        keys = jax.random.split(key, n * (n + 1) // 2)
        return cls([factory(k) for k in keys], n, **kwargs)

    def raw(self, x: Float[Array, " n"]) -> Float[Array, "n n"]:
        """The symmetric raw matrix M(x) (before the form)."""
        check_point(x, self.n, "IndependentComponents")
        v = self.scale * jnp.stack([net(x) for net in self.nets])
        i, j = jnp.triu_indices(self.n)
        return jnp.zeros((self.n, self.n), v.dtype).at[i, j].set(v).at[j, i].set(v)


class SharedTrunk(_MetricHead):
    """g = form(scale·M(x)) with M the n×n matrix output (n² outputs, row-major) of ``net``."""

    net: Callable

    @staticmethod
    def _checked(net: Callable, n: int) -> Callable:
        shape = _out_shape(net, jnp.zeros((n,)))
        if shape not in {(n * n,), (n, n)}:
            raise ValueError(
                f"SharedTrunk: net must return {n * n} = {n}x{n} outputs at a point of "
                f"dimension {n}, got shape {shape}"
            )
        return net

    def raw(self, x: Float[Array, " n"]) -> Float[Array, "n n"]:
        check_point(x, self.n, "SharedTrunk")
        return self.scale * self.net(x).reshape(self.n, self.n)


class ScalarHead(_Head):
    """A scalar potential K(x) = K_ref(x) + scale·f(x) (e.g. a Kähler potential with
    x = [Re z | Im z]; the metric is ∂_i ∂̄_j K, see :func:`kahler_metric`)."""

    net: Callable
    k_ref: Callable | None
    in_size: int = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def __init__(
        self, net: Callable, in_size: int, *, k_ref: Callable | None = None, scale: float = 1.0
    ):
        check_size(in_size, "in_size", "ScalarHead")
        shape = _out_shape(net, jnp.zeros((in_size,)))
        if shape not in {(), (1,)}:
            raise ValueError(f"ScalarHead: net must return a scalar, got shape {shape}")
        self.net, self.k_ref, self.in_size, self.scale = net, k_ref, in_size, scale

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        check_point(x, self.in_size, "ScalarHead")
        k = self.scale * jnp.reshape(self.net(x), ())
        return k if self.k_ref is None else k + self.k_ref(x)


def kahler_metric(potential: Callable, x: Float[Array, " 2n"]) -> Complex[Array, "n n"]:
    """g_{i j̄} = ∂_i ∂̄_j K (complex Hermitian) at one point x = [Re z | Im z]."""
    if x.ndim != 1 or x.shape[0] % 2:
        raise ValueError(f"kahler_metric: expected x = [Re z | Im z] of even length, got {x.shape}")
    return complex_hessian(potential, x)


def kahler_metric_parts(
    potential: Callable, x: Float[Array, " 2n"]
) -> tuple[Float[Array, "n n"], Float[Array, "n n"]]:
    """(Re g, Im g) of g_{i j̄} = ∂_i ∂̄_j K at one point x = [Re z | Im z]."""
    g = kahler_metric(potential, x)
    return jnp.real(g), jnp.imag(g)
