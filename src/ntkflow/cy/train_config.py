"""The configuration of ``ntkflow cy train`` (TOML keys = field names = ``--options``).

:func:`check_config` holds the rules that need the variety. Kept apart from the job
(:mod:`.train_job`) so the command line can describe the options without building anything.
"""

from __future__ import annotations

import dataclasses

from ntkflow.io.config import check_fields, option

ANSATZE = ("algebraic", "phi")
OPTIMISERS = ("auto", "lbfgs", "adam")
SYMMETRIES = ("auto", "none")
MAX_AUTO_SECTIONS = 350
MIN_AUTO_FIT = 30_000


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
    n_fit: int = option(
        0,
        "Training points in each full-batch L-BFGS step; 0: four per trainable parameter of "
        f"the algebraic ansatz, at least {MIN_AUTO_FIT}, at most all training points.",
        min=0,
    )
    seed: int = option(0, "Seed of the random number generator (sampling and initialisation).")
    ansatz: str = option(
        "algebraic",
        "Kähler potential: algebraic (degree-k sections, started at Donaldson's balanced "
        "metric) or phi (Fubini–Study plus an MLP).",
        choices=ANSATZE,
    )
    k: int = option(
        0,
        "Degree of the sections of the algebraic ansatz; 0 picks the largest k <= 7 with at "
        f"most {MAX_AUTO_SECTIONS} sections (7 on the quintic, 4 on the bicubic, 3 on the "
        "tetraquadric, 5 on P5[3,3]).",
        min=0,
        max=12,
    )
    symmetry: str = option(
        "auto",
        "Restrict H of the algebraic ansatz to the matrices invariant under the variety's "
        "phase symmetries z_i -> ζ^{a_i} z_i (auto: where the variety has them, e.g. the "
        "Fermat and Dwork quintics) or not (none).",
        choices=SYMMETRIES,
    )
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
        "auto",
        "Optimiser: auto (full-batch L-BFGS for the algebraic ansatz, Adam for a φ-network), "
        "or lbfgs (full batch) or adam (mini-batches) for every stage.",
        choices=OPTIMISERS,
    )
    learning_rate: float = option(
        1e-2, "Adam learning rate at the start.", min=0.0, min_exclusive=True, flag="--lr"
    )
    lr_decay: float = option(
        0.9,
        "Factor applied to Adam's learning rate after each epoch.",
        min=0.0,
        min_exclusive=True,
        max=1.0,
    )
    batch_size: int = option(1000, "Adam mini-batch size.", min=1)
    loss_power: int = option(2, "Power p of the Monge–Ampère loss |1 - η/κ|^p.", choices=(1, 2))
    steps: int = option(200, "L-BFGS iterations or Adam epochs.", min=1)
    algebraic_steps: int = option(
        0,
        "With the algebraic ansatz: after this many steps freeze it and train a φ-network "
        "correction K = K_alg + φ(u) (width, depth, activation as for --ansatz phi; φ starts "
        "at zero) for the remaining steps; 0 for no correction.",
        min=0,
    )
    time_budget: float = option(
        200.0,
        "Stop training when its time (seconds, σ measurements included, sampling not) "
        "reaches this; 0 for no limit.",
        min=0.0,
    )
    eval_every: int = option(5, "Measure σ on the test points every this many steps.", min=1)
    devices: int = option(
        0,
        "Devices to shard the points over (per process; 0: all local devices). The same "
        "numbers on any number, to float64 round-off.",
        min=0,
    )
    dtype: str = option(
        "float32",
        "Training precision, float32 or float64 (final measures are always in float64).",
        choices=("float32", "float64"),
    )

    def __post_init__(self):
        check_fields(self)
        if self.n_points <= self.n_test:
            raise ValueError(
                f"n_test must be less than n_points (--points), got n_test = {self.n_test}, "
                f"n_points = {self.n_points}"
            )

    @property
    def description(self) -> str:
        """Short label of the training stage (progress bars)."""
        names = {"lbfgs": "L-BFGS", "adam": "Adam"}
        stages = [self.stage_optimizer(phi=self.ansatz == "phi")]
        if self.ansatz == "algebraic" and 0 < self.algebraic_steps < self.steps:
            stages.append(self.stage_optimizer(phi=True))
        return f"training ({' then '.join(names[s] for s in stages)})"

    def stage_optimizer(self, phi: bool) -> str:
        """The optimiser of a stage: ``optimizer``, or for auto L-BFGS on the algebraic ansatz
        (few parameters, a smooth full-batch loss) and Adam on a φ-network."""
        if self.optimizer != "auto":
            return self.optimizer
        return "adam" if phi else "lbfgs"


def section_degree(variety, k: int) -> int:
    """The degree of the algebraic ansatz: ``k`` itself, or for k = 0 the largest k <= 7
    whose reduced basis has at most MAX_AUTO_SECTIONS sections (the section features of
    10⁵ points then stay within a few GiB, and the fit points outnumber H's entries)."""
    from ntkflow.cy.sections import koszul_count

    if k >= 1:
        return k
    fits = [
        d
        for d in range(1, 8)
        if koszul_count(variety.ambient, variety.multidegrees, d) <= MAX_AUTO_SECTIONS
    ]
    return max(fits, default=1)


def check_config(cfg: TrainConfig) -> None:
    """The rules of a config that need the variety, checked before any work (sampling):
    the variety exists, and the balanced metric has more training points than sections.
    Raises :class:`ntkflow.io.InputError` (a usage error) with what to change."""
    from ntkflow.cy.sections import section_basis
    from ntkflow.cy.variety import VarietyError, variety_from_name
    from ntkflow.io.config import InputError

    try:
        variety = variety_from_name(cfg.variety)
    except VarietyError as e:
        raise InputError(str(e)) from None
    if cfg.ansatz == "algebraic":
        k = section_degree(variety, cfg.k)
        n_k = len(section_basis(variety, k))
        n_bal = min(cfg.n_balance, cfg.n_points - cfg.n_test)
        if n_bal <= n_k:
            raise InputError(
                f"degree k = {k} on {variety.name} has {n_k} sections; its balanced metric "
                f"needs more training points than that, got {n_bal} (raise --points or lower --k)"
            )
