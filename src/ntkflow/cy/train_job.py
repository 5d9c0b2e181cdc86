"""``ntkflow cy train`` as a job (see :mod:`ntkflow.io.loop`): config, state, one step.

Defaults (chosen by ``benchmarks/cy_train.py`` for the best σ per minute on 2 CPU cores): the
algebraic ansatz on the largest degree k ≤ 7 with ≤ 350 sections, started at Donaldson's
balanced metric, trained by full-batch L-BFGS on the p = 2 Monge–Ampère loss over ``n_fit``
points (a φ-network by Adam), σ measured on ``n_test`` held-out points every ``eval_every`` steps.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ntkflow.cy.donaldson import balanced_hermitian
from ntkflow.cy.potential import (
    AlgebraicPotential,
    CorrectedPotential,
    PhiPotential,
    n_spectral_inputs,
    zero_readout,
)
from ntkflow.cy.sections import section_basis
from ntkflow.cy.symmetry import InvariantAlgebraicPotential, invariant_classes, phase_group
from ntkflow.cy.train import (
    Optimiser,
    TrainingSet,
    check_finite,
    eta,
    eta_from_metrics,
    fs_kappa,
    fs_metrics,
    loss_chunk,
    make_step,
    sigma_from_eta,
)
from ntkflow.cy.train_config import MIN_AUTO_FIT, TrainConfig, section_degree
from ntkflow.cy.train_config import check_config as check_config  # re-exported
from ntkflow.io.progress import stage, thousands
from ntkflow.nets.trainable import trainable
from ntkflow.parallel import (
    agree,
    is_writer,
    multi_process,
    point_mesh,
    process_share,
    process_sum,
    replicate,
    to_host,
)


class CYTrainJob:
    """Samples the points (deterministic in the seed), builds the ansatz, trains it."""

    def __init__(self, config: dict[str, Any] | TrainConfig):
        from ntkflow.cy.sampling import sample_rows
        from ntkflow.cy.variety import variety_from_name

        cfg = config if isinstance(config, TrainConfig) else TrainConfig(**config)
        self.config = cfg
        self.description = cfg.description
        self.dtype = jnp.float32 if cfg.dtype == "float32" else jnp.float64
        self.variety = variety_from_name(cfg.variety)
        self.k = section_degree(self.variety, cfg.k)  # the degree of the algebraic ansatz
        key = jax.random.PRNGKey(cfg.seed)
        self.mesh = point_mesh(cfg.devices or None)
        # the points are the blocked sample of the seed (cy.sampling.sample_rows): any process
        # can draw any rows; in a multi-process run each draws only the training rows its
        # devices hold, and all draw the (small) test, held-out and balance sets
        n, n_train = cfg.n_points, cfg.n_points - cfg.n_test
        self.n_train = n_train
        key0 = jax.random.fold_in(key, 0)
        self._own_rows = multi_process()
        with stage(f"sampling {thousands(n)} points on {self.variety.name}"):
            if self._own_rows:
                drawn: dict = {}  # each block sampled once for all the ranges below
                rows = lambda a, b: sample_rows(self.variety, n, key0, a, b, blocks=drawn)
            else:
                points = sample_rows(self.variety, n, key0)
                rows = lambda a, b: points.take(slice(a, b))
            test = rows(n_train, n)
            train = rows(*process_share(n_train, self.mesh))
        # the last 1 000 points, for the Ricci measure and χ of the final model
        last = slice(max(len(test) - 1000, 0), len(test))
        self.held_out = test.take(last) if cfg.n_test >= 1000 else rows(max(n - 1000, 0), n)
        algebraic = cfg.ansatz == "algebraic"
        exps = section_basis(self.variety, self.k) if algebraic else None
        # the section features (algebraic ansatz) only where the loss is evaluated: on the
        # L-BFGS fit points, or all training points for an Adam stage; and on the test points
        self.phi_stage = algebraic and 0 < cfg.algebraic_steps < cfg.steps
        stages = [cfg.stage_optimizer(phi=not algebraic)]
        if self.phi_stage:
            stages.append(cfg.stage_optimizer(phi=True))
        lbfgs = stages[0] == "lbfgs"
        self.train = TrainingSet.from_points(
            self.variety, train, self.dtype, exps if "adam" in stages else None
        )
        with stage(f"balanced metric (k = {self.k})" if algebraic else "φ-network set-up"):
            self._skeleton = self._initial_model(rows(0, min(cfg.n_balance, n_train)))
        params, self.static = eqx.partition(self._skeleton, trainable(self._skeleton))
        self._params0 = params
        # n_fit = 0: four fit points per trainable parameter of the algebraic ansatz
        n_params = sum(x.size for x in jax.tree.leaves(params)) if algebraic else 0
        n_fit = cfg.n_fit or max(MIN_AUTO_FIT, 4 * n_params)
        n_fit = min(n_fit, n_train)
        self.test = TrainingSet.from_points(self.variety, test, jnp.float64, exps)
        if self._own_rows:
            fit = TrainingSet.from_points(
                self.variety, rows(*process_share(n_fit, self.mesh)), self.dtype, exps
            )
            # κ from this process's sums added over the processes
            e = eta_from_metrics(fs_metrics(self.variety, self.train), self.train.omega_sq)
            s_ew, s_w = process_sum(
                np.array(
                    [float(jnp.sum(e * self.train.weights)), float(jnp.sum(self.train.weights))]
                )
            )
            self.kappa = float(s_ew / s_w)
            self.train = self.train.shard_local(self.mesh, n_train)
            self.fit = fit.shard_local(self.mesh, n_fit)
        else:
            fit = train.take(np.arange(n_fit))
            self.fit = (
                TrainingSet.from_points(self.variety, fit, self.dtype, exps)
                if lbfgs
                else (self.train.take(np.arange(n_fit)))
            )
            self.kappa = fs_kappa(self.variety, self.train)
            self.train, self.fit = self.train.shard(self.mesh), self.fit.shard(self.mesh)
        # the test set row-sharded for σ during training, and kept whole in every process
        # for the final measures
        self._test = self.test.shard(self.mesh)
        # an Adam mini-batch larger than the training set would be empty: use the whole set
        batch = min(cfg.batch_size, n_train)
        epoch = n_train // batch
        self.optimiser, self.phi_optimiser = (
            Optimiser(s, cfg.learning_rate, batch, decay=cfg.lr_decay, epoch_steps=epoch)
            for s in (stages[0], stages[-1])
        )
        chunk = loss_chunk(self._skeleton, self.fit, self.kappa, cfg.loss_power, self.mesh)
        self.tx, self._step = make_step(
            self.optimiser, self.static, self.kappa, cfg.loss_power, chunk, self.mesh, self.n_train
        )
        # data as arguments, not closed over (XLA would fold them in as constants); chunks no
        # larger than the loss-and-gradient chunk of the memory budget
        self._eta = jax.jit(lambda m, d: eta(m, d, chunk=chunk, mesh=self.mesh))
        if self.phi_stage:
            self._init_phi_stage(cfg)

    def _init_phi_stage(self, cfg: TrainConfig) -> None:
        """K = K_alg + φ (:class:`~ntkflow.cy.potential.CorrectedPotential`): φ starts at zero,
        trains after ``algebraic_steps`` steps with the algebraic part frozen."""
        corrected = CorrectedPotential(self._skeleton, self._phi_network(cfg), self.variety.ambient)
        phi_params, self.phi_static = eqx.partition(corrected, trainable(corrected))
        self._phi0 = phi_params
        # the algebraic part's trained arrays inside the corrected model (frozen in the stage)
        self._base_filter = CorrectedPotential(
            trainable(self._skeleton),
            jax.tree.map(lambda _: False, corrected.phi),
            corrected.ambient,
        )
        chunk = loss_chunk(corrected, self.fit, self.kappa, cfg.loss_power, self.mesh)
        self.phi_tx, self._phi_step = make_step(
            self.phi_optimiser,
            self.phi_static,
            self.kappa,
            self.config.loss_power,
            chunk,
            self.mesh,
            self.n_train,
        )

    def _phi_mlp(self, cfg: TrainConfig, stream: int):
        """The φ-MLP on the spectral inputs, initialised from the seed's ``stream``."""
        from ntkflow.nets import MLP

        return MLP(
            n_spectral_inputs(self.variety.ambient),
            "scalar",
            cfg.width,
            cfg.depth,
            cfg.activation,
            parameterization=cfg.parameterization,
            key=jax.random.fold_in(jax.random.PRNGKey(cfg.seed), stream),
            dtype=self.dtype,
        )

    def _phi_network(self, cfg: TrainConfig):
        """The correction network on the spectral inputs, read-out zero (φ ≡ 0)."""
        return zero_readout(self._phi_mlp(cfg, 3))

    # -- model -----------------------------------------------------------------------------

    def _initial_model(self, balance):
        """The starting model: on the algebraic ansatz Donaldson's balanced H on the points
        ``balance`` (the first ``n_balance`` training points)."""
        cfg = self.config
        if cfg.ansatz == "algebraic":
            exps = section_basis(self.variety, self.k)
            h0 = balanced_hermitian(
                exps, balance.z, balance.weights, cfg.balanced_iterations, mesh=self.mesh
            )
            return self._algebraic(exps, np.asarray(h0), cfg)
        return self.build(self.hyperparameters())

    def _algebraic(self, exps, h0, cfg: TrainConfig):
        """The algebraic ansatz at H₀: on the invariant pattern when the variety has phase
        symmetries and ``symmetry = "auto"`` (:mod:`ntkflow.cy.symmetry`), else full H."""
        group = phase_group(self.variety) if cfg.symmetry == "auto" else None
        if group is None:
            return AlgebraicPotential(exps, h0, dtype=self.dtype)
        labels = invariant_classes(exps, group)
        return InvariantAlgebraicPotential(exps, h0, labels, dtype=self.dtype)

    def hyperparameters(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def build(self, hyperparameters: dict[str, Any]):
        """A model skeleton with the right shapes (weights are loaded over it)."""
        cfg = TrainConfig(**hyperparameters)
        if cfg.ansatz == "algebraic":
            if cfg == self.config and hasattr(self, "_skeleton"):
                base = self._skeleton
            else:
                exps = section_basis(self.variety, section_degree(self.variety, cfg.k))
                base = self._algebraic(exps, np.eye(len(exps)), cfg)
            if 0 < cfg.algebraic_steps < cfg.steps:
                return CorrectedPotential(base, self._phi_network(cfg), self.variety.ambient)
            return base
        from ntkflow.cy.fubini_study import FubiniStudy

        phi = _scale_readout(self._phi_mlp(cfg, 1), 1e-3)
        return PhiPotential(phi, FubiniStudy(self.variety.ambient))

    def model(self, state):
        """The model of a state: the algebraic ansatz, or K_alg + φ with a φ stage (φ ≡ 0
        before it starts, so the metric is the algebraic one exactly)."""
        base = eqx.combine(state["params"], self.static)
        if not self.phi_stage:
            return base
        corrected = eqx.combine(state["phi"], self.phi_static)
        return eqx.tree_at(lambda m: m.base, corrected, base)

    # -- job protocol ----------------------------------------------------------------------

    def init(self):
        params = self._params0
        state = {
            "params": params,
            "opt_state": self.tx.init(params),
            "step": jnp.asarray(0),
            "key": jax.random.fold_in(jax.random.PRNGKey(self.config.seed), 2),
            "elapsed": jnp.asarray(0.0),
        }
        if self.phi_stage:
            state["phi"] = self._phi0
            state["phi_opt_state"] = self.phi_tx.init(self._phi0)
        return state

    def finished(self, state) -> bool:
        """True once the training time carried in the state reaches ``time_budget`` (the
        loop then ends the run there; a resumed run continues the same count)."""
        budget = self.config.time_budget
        return budget > 0 and float(to_host(state["elapsed"])) >= budget

    def step(self, state):
        t0 = time.perf_counter()
        if multi_process():  # a resumed or fresh state: replicated on every process's devices
            state = replicate(state, self.mesh)
        step = int(to_host(state["step"])) + 1
        phi_step = self.phi_stage and step > self.config.algebraic_steps
        kind = (self.phi_optimiser if phi_step else self.optimiser).kind
        data = self.fit if kind == "lbfgs" else self.train
        key = jax.random.fold_in(state["key"], step)
        new = dict(state)
        if phi_step:
            # the φ stage: the algebraic part is frozen inside the corrected model
            frozen = eqx.filter(self.model(state), self._base_filter)
            params, opt_state, loss = self._phi_step(
                state["phi"], state["phi_opt_state"], data, key, frozen
            )
            new["phi"], new["phi_opt_state"] = params, opt_state
        else:
            params, opt_state, loss = self._step(state["params"], state["opt_state"], data, key)
            new["params"], new["opt_state"] = params, opt_state
        check_finite(loss, "the Monge–Ampère loss", step)
        metrics = {"loss": float(loss)}
        # every process takes the same steps: process 0's clock decides when the budget ends
        elapsed = agree(float(to_host(state["elapsed"])) + time.perf_counter() - t0)
        last = step == self.config.steps or 0 < self.config.time_budget <= elapsed
        if step % self.config.eval_every == 0 or step == 1 or last:
            metrics["sigma_test"] = self.sigma_test(self.model(new))
            check_finite(metrics["sigma_test"], "test σ", step)
            # σ on the points the step was fitted to: σ_test ≈ σ_train says there are enough
            metrics["sigma_train"] = float(
                sigma_from_eta(self._eta(self.model(new), self.fit), self.fit.weights)
            )
        new["step"] = jnp.asarray(step)
        spent = float(to_host(state["elapsed"])) + time.perf_counter() - t0
        new["elapsed"] = jnp.asarray(agree(spent))
        return new, metrics

    def sigma_test(self, model) -> float:
        return float(sigma_from_eta(self._eta(model, self._test), self._test.weights))

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
    key = json.dumps(config, sort_keys=True, default=str)
    if key not in _JOBS:
        _JOBS.clear()
        _JOBS[key] = CYTrainJob(config)
    return _JOBS[key]


JOB_KIND = "ntkflow.cy.train_job:make_job"


def finish(run_dir: Path, plot: Path | None = None, started: float | None = None) -> dict:
    """How a finished `cy train` run ends, in one go or resumed: the final measures of its
    model in float64 (σ, volume, Ricci measure, χ), the σ plot and RUN_DIR/summary.json.

    ``train_seconds`` is the training loop's time over all sessions (``time_s`` of the last
    metrics record), ``measure_seconds`` the final measures, ``wall_seconds`` everything since
    ``started`` (sampling and set-up included).
    """
    import ntkflow.io as nio
    from ntkflow.cy.measures import final_measures
    from ntkflow.io.atomic import atomic_write_text, to_jsonable

    started = time.perf_counter() if started is None else started
    rd = nio.RunDir.open(run_dir)
    records = rd.read_metrics()
    t0 = time.perf_counter()
    with stage("final measures in float64: σ, volume, Ricci measure, χ"):
        summary = final_measures(run_dir)
    t1 = time.perf_counter()
    summary["train_seconds"] = round(float(records[-1]["time_s"]) if records else 0.0, 2)
    summary["measure_seconds"] = round(t1 - t0, 2)
    summary["wall_seconds"] = round(t1 - started, 2)
    summary["steps"] = records[-1]["step"] if records else 0
    summary["run_dir"] = str(run_dir)
    out = Path(plot) if plot is not None else Path(run_dir) / "sigma.png"
    if is_writer():  # process 0 of a multi-process run writes; all compute the same summary
        if plot_sigma(records, out):
            summary["plot"] = str(out)
        text = json.dumps(to_jsonable(summary), indent=2) + "\n"
        atomic_write_text(rd.path / "summary.json", text)
    return summary


def plot_sigma(records: list[dict], out: Path) -> bool:
    """PNG of test σ against training time from a run's metrics records; False when no σ
    was logged."""
    from ntkflow.io.atomic import figure

    recs = [r for r in records if "sigma_test" in r]
    if not recs:
        return False
    with figure(out) as ax:
        ax.semilogy([r["time_s"] for r in recs], [r["sigma_test"] for r in recs], "o-")
        ax.set(xlabel="training time [s]", ylabel="test σ")
        ax.grid(alpha=0.3, which="both")
    return True
