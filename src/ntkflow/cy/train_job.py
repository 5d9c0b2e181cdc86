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
from ntkflow.cy.train_config import ANSATZE, TrainConfig, check_config
from ntkflow.io.progress import stage, thousands


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
        # an Adam mini-batch larger than the training set would be empty: use the whole set
        batch = min(cfg.batch_size, len(self.train))
        self.optimiser = Optimiser(cfg.optimizer, cfg.learning_rate, batch)
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

__all__ = ["ANSATZE", "JOB_KIND", "CYTrainJob", "TrainConfig", "check_config", "make_job"]
