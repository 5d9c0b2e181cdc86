"""TOML configs into frozen dataclasses: precedence defaults < file < flags, and clear errors
naming the offending key."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from ntkflow.io import ConfigError, resolve_config, to_dict


@dataclasses.dataclass(frozen=True)
class Optimizer:
    lr: float = 1e-3
    name: Literal["adam", "sgd"] = "adam"


@dataclasses.dataclass(frozen=True)
class Train:
    steps: int
    widths: tuple[int, ...] = (64, 64)
    seed: int = 0
    float64: bool = False
    note: str | None = None
    optimizer: Optimizer = dataclasses.field(default_factory=Optimizer)


def _write(tmp_path, text):
    p = tmp_path / "run.toml"
    p.write_text(text)
    return p


def test_precedence_and_conversion(tmp_path):
    p = _write(tmp_path, "steps = 100\nwidths = [32, 16, 8]\n[optimizer]\nlr = 1\n")
    cfg = resolve_config(Train, p, {"seed": 7, "optimizer.name": "sgd", "steps": None})
    assert cfg == Train(steps=100, widths=(32, 16, 8), seed=7, optimizer=Optimizer(1.0, "sgd"))
    assert isinstance(cfg.optimizer.lr, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    assert to_dict(cfg) == {
        "steps": 100,
        "widths": [32, 16, 8],
        "seed": 7,
        "float64": False,
        "note": None,
        "optimizer": {"lr": 1.0, "name": "sgd"},
    }
    # flags alone, no file
    assert resolve_config(Train, None, {"steps": 5}).steps == 5


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("steps = 1\nstepz = 2\n", {}, "unknown config key stepz"),
        ("steps = 1\n[optimizer]\nrate = 2\n", {}, "unknown config key optimizer.rate"),
        ("steps = 1\n", {"optimizer.beta": 0.9}, "unknown config key optimizer.beta"),
        ("widths = [1]\n", {}, "missing required config key steps"),
        ("steps = 'ten'\n", {}, "steps: expected an integer, got 'ten'"),
        ("steps = true\n", {}, "steps: expected an integer, got True"),
        ("steps = 1\nwidths = [1, 2.5]\n", {}, r"widths\[1\]: expected an integer"),
        ("steps = 1\nfloat64 = 1\n", {}, "float64: expected true or false"),
        ("steps = 1\n[optimizer]\nname = 'lbfgs'\n", {}, "optimizer.name: 'lbfgs' is not one of"),
        ("steps = 1\noptimizer = 3\n", {}, "optimizer: expected a table"),
        ("steps = \n", {}, "invalid TOML"),
    ],
)
def test_errors_name_the_key_and_file(tmp_path, text, overrides, message):
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as e:
        resolve_config(Train, p, overrides)
    assert str(p) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_config(Train, tmp_path / "nope.toml")
