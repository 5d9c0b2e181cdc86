"""``ntkflow cy train`` as a job (see :mod:`ntkflow.io.job`): config, state, one step.

Defaults (chosen by ``benchmarks/cy_train.py`` for the best σ per minute on 2 CPU cores): the
algebraic ansatz of degree k = 5 started at Donaldson's balanced metric, trained by
full-batch L-BFGS on the p = 2 Monge–Ampère loss over ``n_fit`` points, σ measured on
``n_test`` held-out points every ``eval_every`` steps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ntkflow.cy.donaldson import balanced_hermitian
from ntkflow.cy.potential import AlgebraicPotential, PhiPotential, n_spectral_inputs
from ntkflow.cy.sections import section_basis
from ntkflow.cy.train import (
    Optimiser,
    TrainingSet,
    check_finite,
    eta,
    fs_kappa,
    make_step,
    sigma_from_eta,
)
from ntkflow.io.config import option
from ntkflow.io.progress import stage, thousands

ANSATZE = ("algebraic", "phi")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a Calabi–Yau training run (TOML keys = field names).

    Each field carries its help sentence and allowed range (:func:`ntkflow.io.option`); the
    TOML loader and ``ntkflow cy train --help`` both read them.
    """

    variety: str = option(
        "fermat-quintic",
        "Variety to train on: a catalogue name (fermat-quintic, dwork:psi=0.5, "
        "quartic-k3, cubic-torus, bicubic, tetraquadric, cicy:P5[3,3]) or a TOML file.",
    )
    n_points: int = option(
        100_000,
        "Points sampled on the variety, training and test together.",
        min=2,
        flag="--points",
    )
    n_test: int = option(10_000, "Held-out points on which σ is measured.", min=1)
    n_fit: int = option(90_000, "Training points in each full-batch L-BFGS step.", min=1)
    seed: int = option(0, "Seed of the random number generator (sampling and initialisation).")
    ansatz: str = option(
        "algebraic",
        "Kähler potential: algebraic (degree-k sections, started at Donaldson's balanced "
        "metric) or phi (Fubini–Study plus an MLP).",
        choices=ANSATZE,
    )
    k: int = option(5, "Degree of the sections of the algebraic ansatz.", min=1, max=12)
    balanced_iterations: int = option(
        4, "Donaldson T-operator iterations for the starting balanced metric.", min=0
    )
    n_balance: int = option(20_000, "Points used for the balanced metric.", min=1)
    width: int = option(64, "Width of the φ-network's hidden layers.", min=1)
    depth: int = option(3, "Number of hidden layers of the φ-network.", min=1)
    activation: str = option(
        "gelu", "Activation of the φ-network.", choices=("gelu", "tanh", "relu", "softplus")
    )
    parameterization: str = option(
        "standard", "Parameterisation of the φ-network.", choices=("standard", "ntk")
    )
    optimizer: str = option(
        "lbfgs",
        "Optimiser: lbfgs (full batch, the default) or adam (mini-batches).",
        choices=("lbfgs", "adam"),
    )
    learning_rate: float = option(
        1e-3, "Adam learning rate.", min=0.0, min_exclusive=True, flag="--lr"
    )
    batch_size: int = option(2000, "Adam mini-batch size.", min=1)
    loss_power: int = option(2, "Power p of the Monge–Ampère loss |1 - η/κ|^p.", choices=(1, 2))
    steps: int = option(30, "L-BFGS iterations or Adam epochs.", min=1)
    eval_every: int = option(5, "Measure σ on the test points every this many steps.", min=1)
    dtype: str = option(
        "float32",
        "Training precision, float32 or float64 (final measures are always in float64).",
        choices=("float32", "float64"),
    )

    def __post_init__(self):
        if self.ansatz not in ANSATZE:
            raise ValueError(f"ansatz must be one of {ANSATZE}, got {self.ansatz!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.n_test < 1 or self.n_points <= self.n_test:
            raise ValueError(
                f"n_test must be at least 1 and less than n_points (--points), got "
                f"n_test = {self.n_test}, n_points = {self.n_points}"
            )
        if self.loss_power not in (1, 2):
            raise ValueError(f"loss_power must be 1 or 2, got {self.loss_power}")
        Optimiser(self.optimizer)  # validates the name

    @property
    def description(self) -> str:
        """Short label of the training stage (progress bars)."""
        opt = {"lbfgs": "L-BFGS", "adam": "Adam"}.get(self.optimizer, self.optimizer)
        return f"training ({opt})"


def check_config(cfg: TrainConfig) -> None:
    """The rules of a config that need the variety, checked before any work (sampling):
    the variety exists, and the balanced metric has more training points than sections.
    Raises :class:`ntkflow.io.InputError` (a usage error) with what to change."""
    from ntkflow.cy.variety import VarietyError, variety_from_name
    from ntkflow.io.validate import InputError

    try:
        variety = variety_from_name(cfg.variety)
    except VarietyError as e:
        raise InputError(str(e)) from None
    if cfg.ansatz == "algebraic":
        n_k = len(section_basis(variety, cfg.k))
        n_bal = min(cfg.n_balance, cfg.n_points - cfg.n_test)
        if n_bal <= n_k:
            raise InputError(
                f"degree k = {cfg.k} on {variety.name} has {n_k} sections; its balanced metric "
                f"needs more training points than that, got {n_bal} (raise --points or lower --k)"
            )


class CYTrainJob:
    """Samples the points (deterministic in the seed), builds the ansatz, trains it."""

    def __init__(self, config: dict[str, Any] | TrainConfig):
        from ntkflow.cy.sampling import sample_points
        from ntkflow.cy.variety import variety_from_name

        cfg = config if isinstance(config, TrainConfig) else TrainConfig(**config)
        self.config = cfg
        self.description = cfg.description
        self.dtype = jnp.float32 if cfg.dtype == "float32" else jnp.float64
        self.variety = variety_from_name(cfg.variety)
        key = jax.random.PRNGKey(cfg.seed)
        with stage(f"sampling {thousands(cfg.n_points)} points on {self.variety.name}"):
            points = sample_points(self.variety, cfg.n_points, jax.random.fold_in(key, 0))
        train, test = points.split(cfg.n_test)
        self.points = points
        self.train = TrainingSet.from_points(self.variety, train, self.dtype)
        self.test = TrainingSet.from_points(self.variety, test, jnp.float64)
        self.fit = self.train.take(np.arange(min(cfg.n_fit, len(self.train))))
        self.kappa = fs_kappa(self.variety, self.train)
        self.optimiser = Optimiser(cfg.optimizer, cfg.learning_rate, cfg.batch_size)
        algebraic = cfg.ansatz == "algebraic"
        with stage(f"balanced metric (k = {cfg.k})" if algebraic else "φ-network set-up"):
            self._skeleton = self._initial_model(train)
        params, self.static = eqx.partition(self._skeleton, _trainable(self._skeleton))
        self._params0 = params
        self.tx, self._step = make_step(self.optimiser, self.static, self.kappa, cfg.loss_power)
        self._eta_test = jax.jit(lambda m: eta(m, self.test, chunk=2000))

    # -- model -----------------------------------------------------------------------------

    def _initial_model(self, train):
        cfg = self.config
        if cfg.ansatz == "algebraic":
            exps = section_basis(self.variety, cfg.k)
            nb = min(cfg.n_balance, len(train))
            h0 = balanced_hermitian(exps, train.z[:nb], train.weights[:nb], cfg.balanced_iterations)
            return AlgebraicPotential(exps, np.asarray(h0), dtype=self.dtype)
        return self.build(self.hyperparameters())

    def hyperparameters(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def build(self, hyperparameters: dict[str, Any]):
        """A model skeleton with the right shapes (weights are loaded over it)."""
        cfg = TrainConfig(**hyperparameters)
        if cfg.ansatz == "algebraic":
            if cfg == self.config and hasattr(self, "_skeleton"):
                return self._skeleton
            exps = section_basis(self.variety, cfg.k)
            return AlgebraicPotential(exps, np.eye(len(exps)), dtype=self.dtype)
        from ntkflow.cy.fubini_study import FubiniStudy
        from ntkflow.nets import MLP

        phi = MLP(
            n_spectral_inputs(self.variety.ambient),
            "scalar",
            cfg.width,
            cfg.depth,
            cfg.activation,
            parameterization=cfg.parameterization,
            key=jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1),
            dtype=self.dtype,
        )
        phi = _scale_readout(phi, 1e-3)
        return PhiPotential(phi, FubiniStudy(self.variety.ambient))

    def model(self, state):
        return eqx.combine(state["params"], self.static)

    # -- job protocol ----------------------------------------------------------------------

    def init(self):
        params = self._params0
        return {
            "params": params,
            "opt_state": self.tx.init(params),
            "step": jnp.asarray(0),
            "key": jax.random.fold_in(jax.random.PRNGKey(self.config.seed), 2),
        }

    def step(self, state):
        step = int(state["step"]) + 1
        data = self.fit if self.optimiser.kind == "lbfgs" else self.train
        key = jax.random.fold_in(state["key"], step)
        params, opt_state, loss = self._step(state["params"], state["opt_state"], data, key)
        check_finite(loss, "the Monge–Ampère loss", step)
        metrics = {"loss": float(loss)}
        if step % self.config.eval_every == 0 or step in (1, self.config.steps):
            metrics["sigma_test"] = self.sigma_test(eqx.combine(params, self.static))
            check_finite(metrics["sigma_test"], "test σ", step)
        new = {
            "params": params,
            "opt_state": opt_state,
            "step": jnp.asarray(step),
            "key": state["key"],
        }
        return new, metrics

    def sigma_test(self, model) -> float:
        return float(sigma_from_eta(self._eta_test(model), self.test.weights))

    def metric(self, model, points) -> np.ndarray:
        """g_{a b̄} at user points (complex, (N, n_coords)), in the chart the sampler uses."""
        from ntkflow.cy.fubini_study import FubiniStudy
        from ntkflow.cy.kahler import pullback_jacobian
        from ntkflow.cy.sampling import _elim_candidates, _finalize

        pts = jnp.asarray(points, jnp.complex128)
        combos = jnp.asarray(_elim_candidates(self.variety.n_coords, self.variety.n_equations))
        z, patch, elim, *_ = _finalize(self.variety, pts, combos, FubiniStudy(self.variety.ambient))
        jac = jax.vmap(lambda a, p, e: pullback_jacobian(self.variety, a, p, e))(z, patch, elim)
        return np.asarray(jax.vmap(model.pullback_metric)(z, jac))


def _trainable(model):
    from ntkflow.nets.trainable import trainable

    return trainable(model)


def _scale_readout(mlp, factor: float):
    """Start φ near 0 so the initial metric is Fubini–Study (a small read-out layer)."""
    last = mlp.layers[-1]
    return eqx.tree_at(lambda m: m.layers[-1].weight, mlp, last.weight * factor)


_JOBS: dict[str, CYTrainJob] = {}


def make_job(config: dict[str, Any]) -> CYTrainJob:
    """Job factory for ``ntkflow.io`` (kind ``"ntkflow.cy.train_job:make_job"``).

    Jobs are deterministic in their config, so one process reuses the job (its sampled points
    and balanced metric) when asked again for the same config, e.g. to measure after training.
    """
    import json

    key = json.dumps(config, sort_keys=True, default=str)
    if key not in _JOBS:
        _JOBS.clear()
        _JOBS[key] = CYTrainJob(config)
    return _JOBS[key]


JOB_KIND = "ntkflow.cy.train_job:make_job"

__all__ = ["JOB_KIND", "CYTrainJob", "TrainConfig", "make_job"]
