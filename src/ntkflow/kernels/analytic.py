"""Infinite-width NNGP and NTK kernels of deep MLPs, composed layer by layer like neural-tangents'
``stax`` (Lee et al. 2018; Jacot et al. 2018; Arora et al. 2019), in the NTK and the standard
parameterisation (Lee et al. 2019, supplement on the standard parameterisation; Sohl-Dickstein
et al. 2020, "On the infinite width limit of neural networks with a standard parameterization").
Activations: Σ' = E[φ(u)φ(u')],  Θ' = Θ · E[φ'(u)φ'(u')] (the same in both parameterisations).
Dense, NTK parameterisation: Σ' = σ_w² Σ + σ_b²,  Θ' = Σ' + σ_w² Θ.
Dense, standard parameterisation: Σ' = σ_w² Σ + σ_b²,  Θ' = n_in Σ + 1 + σ_w² Θ  (n_in = fan-in).
Derivation: docs/derivations.md#kernels-analytic and docs/ntk.md#two-parameterisations."""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


class KernelState(eqx.Module):
    """NNGP ``nngp`` (N1, N2), variances ``var1`` (N1,), ``var2`` (N2,), NTK ``ntk`` (N1, N2);
    ``width``: the number of channels of the current layer (the fan-in of a following Dense;
    None where unknown), needed by the standard parameterisation only."""

    nngp: Float[Array, "N1 N2"]
    var1: Float[Array, " N1"]
    var2: Float[Array, " N2"]
    ntk: Float[Array, "N1 N2"]
    width: int | None = eqx.field(static=True, default=None)


def point_pair(x1, x2=None, where: str = "analytic kernels"):
    """``(x1, x2)`` as (N, d) arrays of the same d (``x2`` = ``x1`` when None)."""
    x1 = jnp.asarray(x1)
    x2 = x1 if x2 is None else jnp.asarray(x2)
    if x1.ndim != 2 or x2.ndim != 2 or x1.shape[1] != x2.shape[1]:
        raise ValueError(
            f"{where}: x1 and x2 must be (N, d) batches of the same d, got "
            f"{x1.shape} and {x2.shape}"
        )
    return x1, x2


def input_state(x1: Float[Array, "N1 d"], x2: Float[Array, "N2 d"] | None = None) -> KernelState:
    """Σ⁰ = x·x'/d (neural-tangents' input normalisation), Θ⁰ = 0, width d."""
    x1, x2 = point_pair(x1, x2)
    d = x1.shape[1]
    nngp = x1 @ x2.T / d
    var1, var2 = jnp.sum(x1**2, 1) / d, jnp.sum(x2**2, 1) / d
    return KernelState(nngp, var1, var2, jnp.zeros_like(nngp), d)


PARAMETERIZATIONS = ("ntk", "standard")


class Dense(eqx.Module):
    """A dense layer of ``nets.Dense``, with Σ, Θ the kernels of its input (after φ) and n_in
    the input's width (``KernelState.width``).

    NNGP, both parameterisations (the weights have variance σ_w²/n_in in both at
    initialisation): Σ' = σ_w² Σ + σ_b² (Neal 1996; Lee et al. 2018).

    NTK parameterisation, y = (σ_w/√n_in) W a + σ_b b, W, b ~ N(0, 1):
    Θ' = Σ' + σ_w² Θ (Jacot et al. 2018, Theorem 1).

    Standard parameterisation, y = W a + b, W ~ N(0, σ_w²/n_in), b ~ N(0, σ_b²):
    Θ' = n_in Σ + 1 + σ_w² Θ (``use_bias=False``: without the 1). The layer's weights give
    Σ_j ∂y/∂W_ij ∂y'/∂W_ij = Σ_j a_j a'_j → n_in Σ (no 1/√n_in factor in ∂y/∂W), its bias 1,
    and the earlier layers σ_w² Θ as in the NTK parameterisation (Lee et al. 2019, supplement
    on the standard parameterisation; Sohl-Dickstein et al. 2020 with width factors s = 1;
    neural-tangents' ``stax.Dense(parameterization='standard')``). Θ therefore grows like the
    width: with hidden widths n, Θ = n Θ̂ + O(1), and Θ/n, the NTK for a learning rate η/n,
    has the finite limit Θ̂ (docs/ntk.md#two-parameterisations).

    ``width``: this layer's output width n_out, recorded in the state as the fan-in of a
    following standard Dense (a standard Dense after a Dense without ``width`` raises).
    """

    W_std: float = 1.0
    b_std: float = 0.0
    parameterization: str = eqx.field(static=True, default="ntk", kw_only=True)
    width: int | None = eqx.field(static=True, default=None, kw_only=True)
    use_bias: bool = eqx.field(static=True, default=True, kw_only=True)

    def __check_init__(self):
        if self.parameterization not in PARAMETERIZATIONS:
            raise ValueError(
                f"analytic Dense: parameterization must be one of {PARAMETERIZATIONS}, "
                f"got {self.parameterization!r}"
            )
        w = self.width
        if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w < 1):
            raise ValueError(f"analytic Dense: width must be None or an integer >= 1, got {w!r}")

    def __call__(self, s: KernelState) -> KernelState:
        w2, b2 = self.W_std**2, (self.b_std**2 if self.use_bias else 0.0)
        nngp = w2 * s.nngp + b2
        if self.parameterization == "ntk":
            ntk = nngp + w2 * s.ntk
        else:
            if s.width is None:
                raise ValueError(
                    "analytic Dense(parameterization='standard'): the fan-in is unknown; "
                    "give the Dense before it its output width (Dense(..., width=n))"
                )
            ntk = s.width * s.nngp + (1.0 if self.use_bias else 0.0) + w2 * s.ntk
        return KernelState(nngp, w2 * s.var1 + b2, w2 * s.var2 + b2, ntk, self.width)


def _cos_angle(s: KernelState) -> Array:
    norm = jnp.sqrt(jnp.outer(s.var1, s.var2))
    safe = jnp.where(norm > 0, norm, 1.0)
    return jnp.clip(jnp.where(norm > 0, s.nngp / safe, 1.0), -1.0, 1.0), norm


class Relu(eqx.Module):
    """Arc-cosine kernel of order 1 (Cho & Saul 2009): Σ' = √(Σ₁₁Σ₂₂)/(2π)(sin θ + (π − θ) cos θ),
    Σ̇ = (π − θ)/(2π), cos θ = Σ₁₂/√(Σ₁₁Σ₂₂)."""

    def __call__(self, s: KernelState) -> KernelState:
        cos_t, norm = _cos_angle(s)
        theta = jnp.arccos(cos_t)
        nngp = norm / (2 * math.pi) * (jnp.sin(theta) + (math.pi - theta) * cos_t)
        dot = (math.pi - theta) / (2 * math.pi)
        return KernelState(nngp, s.var1 / 2, s.var2 / 2, s.ntk * dot, s.width)


class Erf(eqx.Module):
    """φ = erf (Williams 1997): Σ' = (2/π) arcsin(2Σ₁₂/√((1 + 2Σ₁₁)(1 + 2Σ₂₂))),
    Σ̇ = (4/π)/√((1 + 2Σ₁₁)(1 + 2Σ₂₂) − 4Σ₁₂²)."""

    def __call__(self, s: KernelState) -> KernelState:
        p = jnp.outer(1 + 2 * s.var1, 1 + 2 * s.var2)
        nngp = (2 / math.pi) * jnp.arcsin(jnp.clip(2 * s.nngp / jnp.sqrt(p), -1.0, 1.0))
        dot = (4 / math.pi) / jnp.sqrt(p - 4 * s.nngp**2)
        var = lambda v: (2 / math.pi) * jnp.arcsin(2 * v / (1 + 2 * v))
        return KernelState(nngp, var(s.var1), var(s.var2), s.ntk * dot, s.width)


class Cos(eqx.Module):
    """φ = cos: Σ' = e^{−(Σ₁₁+Σ₂₂)/2} cosh Σ₁₂, Σ̇ = e^{−(Σ₁₁+Σ₂₂)/2} sinh Σ₁₂; ``sin=True``:
    φ = sin, with cosh and sinh exchanged."""

    sin: bool = eqx.field(static=True, default=False)

    def __call__(self, s: KernelState) -> KernelState:
        damp = jnp.exp(-0.5 * jnp.add.outer(s.var1, s.var2))
        nngp, dot = damp * jnp.cosh(s.nngp), damp * jnp.sinh(s.nngp)
        nngp, dot = (dot, nngp) if self.sin else (nngp, dot)
        var = lambda v: 0.5 * (1 + (-1 if self.sin else 1) * jnp.exp(-2 * v))
        return KernelState(nngp, var(s.var1), var(s.var2), s.ntk * dot, s.width)


ANALYTIC_ACTIVATIONS = {"relu": Relu, "erf": Erf, "cos": Cos, "sin": lambda: Cos(sin=True)}


class Serial(eqx.Module):
    """Layers applied in order; ``Serial(...)(x1, x2)`` returns ``(nngp, ntk)``."""

    layers: tuple

    def state(self, x1: Array, x2: Array | None = None) -> KernelState:
        s = input_state(x1, x2)
        for layer in self.layers:
            s = layer(s)
        return s

    def __call__(self, x1: Array, x2: Array | None = None) -> tuple[Array, Array]:
        return (s := self.state(x1, x2)).nngp, s.ntk


def serial(*layers) -> Serial:
    """Compose analytic layers, like ``neural_tangents.stax.serial``."""
    return Serial(tuple(layers))


def activation_layer(name: str):
    """The analytic layer for activation ``name``; a clear error where no closed form exists."""
    if name not in ANALYTIC_ACTIVATIONS:
        raise ValueError(
            f"analytic kernels: no closed-form kernel for activation {name!r}; "
            f"available: {', '.join(sorted(ANALYTIC_ACTIVATIONS))}"
        )
    return ANALYTIC_ACTIVATIONS[name]()


def mlp_kernel(
    depth: int,
    activation: str = "relu",
    W_std: float = 1.0,
    b_std: float = 0.0,
    *,
    parameterization: str = "ntk",
    width: int | None = None,
):
    """The analytic kernel of ``nets.MLP(depth, activation, parameterization=...)``:
    (Dense, φ)×depth, Dense.

    ``parameterization='ntk'``: the width-independent limit (``width`` is ignored).
    ``parameterization='standard'`` needs the hidden ``width`` n and returns the NNGP (the same
    as the NTK parameterisation's) and the width-n NTK Θₙ of the recursion of :class:`Dense`,
    which the empirical NTK of a width-n network approaches with relative fluctuations
    O(1/√n). It is affine in n, Θₙ = n Θ̂ + Θ_d (Θ_d: the first layer's weights, d Σ⁰ carried
    up, and every bias); Θₙ/n → Θ̂ is the kernel of a learning rate η/n
    (docs/ntk.md#two-parameterisations).
    """
    if parameterization == "standard" and (
        isinstance(width, bool) or not isinstance(width, int) or width < 1
    ):
        raise ValueError(
            "mlp_kernel: parameterization='standard' has a width-dependent NTK; give the "
            f"hidden width as an integer >= 1 (width=n), got {width!r}"
        )
    kw = dict(parameterization=parameterization)
    hidden = Dense(W_std, b_std, width=width, **kw)
    return serial(*[hidden, activation_layer(activation)] * depth, Dense(W_std, b_std, **kw))
