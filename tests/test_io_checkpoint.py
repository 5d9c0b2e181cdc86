"""Checkpoints and saved models: exact round trips, and a clear CheckpointError (never a
crash inside JAX) for empty, truncated, corrupt, foreign and mismatched files."""

from __future__ import annotations

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ntkflow.io import CheckpointError, load_checkpoint, load_model, save_checkpoint, save_model
from ntkflow.io.atomic import atomic_write_bytes, is_temporary
from ntkflow.io.pytree_file import checkpoint_path, list_checkpoints, tree_fingerprint


def _model(width=8, key=0):
    return eqx.nn.MLP(3, 2, width, 2, activation=jnp.tanh, key=jax.random.key(key))


def _state(key=0):
    model = _model(key=key)
    opt = optax.adam(1e-2)
    return {
        "model": model,
        "opt": opt.init(eqx.filter(model, eqx.is_array)),
        "key": jax.random.key(7),
        "legacy_key": jax.random.PRNGKey(3),
        "step": jnp.asarray(12),
        "points": np.arange(6.0).reshape(3, 2) + 0.5j,
        "count": 5,
    }


def _leaves(tree):
    out = []
    for x in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array_like)):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        out.append(np.asarray(x))
    return out


def test_round_trip_is_exact(tmp_path):
    state = _state(key=1)
    p = save_checkpoint(tmp_path / "a.ckpt", state, step=12, job="pkg:job")
    like = eqx.filter_eval_shape(_state, 0)
    back, step = load_checkpoint(p, like, job="pkg:job")
    assert step == 12 and back["count"] == 5
    for a, b in zip(_leaves(state), _leaves(back), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    # the restored key draws the same numbers
    draw = lambda k: jax.random.normal(k, (4,))
    assert jnp.array_equal(draw(back["key"]), draw(state["key"]))
    assert [f.name for f in tmp_path.iterdir()] == ["a.ckpt"]  # no temporary left


def test_fingerprint_same_for_skeleton_and_real_tree():
    assert tree_fingerprint(_state()) == tree_fingerprint(eqx.filter_eval_shape(_state, 0))
    assert tree_fingerprint(_model(8)) != tree_fingerprint(_model(9))


@pytest.fixture
def ckpt(tmp_path):
    return save_checkpoint(tmp_path / "c.ckpt", _state(), step=3, job="pkg:job")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"", "file is empty"),
        (lambda b: b[:5], "truncated"),
        (lambda b: b[:30], "truncated inside its header"),
        (lambda b: b[: len(b) // 2], "file is truncated: payload has"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "SHA-256 does not match"),
        (lambda b: b + b"extra", "file is corrupt: payload has"),
        (lambda b: b"PK\x03\x04 a zip file, not ours", "not an ntkflow pytree file"),
        (lambda b: b.replace(b'"format_version": 1', b'"format_version": 9'), "format version 9"),
        (lambda b: b.replace(b'"format_version"', b'"format_versio\xff'), "corrupt header"),
    ],
    ids=[
        "empty",
        "magic-only",
        "header-cut",
        "payload-cut",
        "bit-flip",
        "appended",
        "foreign",
        "future-version",
        "bad-header",
    ],
)
def test_bad_files_give_clear_errors(ckpt, mutate, message):
    ckpt.write_bytes(mutate(ckpt.read_bytes()))
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(ckpt, _state())
    assert str(ckpt) in str(e.value)


def test_foreign_npy_and_missing_file(tmp_path):
    p = tmp_path / "x.ckpt"
    np.save(p.open("wb"), np.ones(3))
    with pytest.raises(CheckpointError, match="not an ntkflow pytree file"):
        load_checkpoint(p, _state())
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.ckpt", _state())


def test_structure_and_job_mismatch(ckpt):
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(ckpt, {**_state(), "model": _model(width=9)})
    with pytest.raises(CheckpointError, match="written by job 'pkg:job'"):
        load_checkpoint(ckpt, _state(), job="other:job")


def test_model_is_not_a_checkpoint(tmp_path):
    p = save_model(tmp_path / "m.eqx", _model(), {"width": 8})
    with pytest.raises(CheckpointError, match="holds a 'model', expected a 'checkpoint'"):
        load_checkpoint(p, _model())


def test_save_and_load_model(tmp_path):
    model = _model(width=8, key=4)
    p = save_model(tmp_path / "m.eqx", model, {"width": 8})
    back = load_model(p, lambda hp: _model(width=hp["width"], key=99))
    x = jnp.array([0.3, -0.2, 0.9])
    np.testing.assert_array_equal(back(x), model(x))
    header = json.loads(p.read_bytes().split(b"\n")[1])
    assert header["hyperparameters"] == {"width": 8}
    with pytest.raises(CheckpointError, match="cannot rebuild the model"):
        load_model(p, lambda hp: _model(width=hp["depth"]))
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_model(tmp_path / "n.eqx", model, {"f": jnp.tanh})


def test_atomic_write_and_listing(tmp_path):
    d = tmp_path / "checkpoints"
    d.mkdir()
    for s in (30, 5, 100):
        save_checkpoint(checkpoint_path(d, s), {"a": jnp.ones(2)}, step=s, job="j")
    (d / f".{checkpoint_path(d, 200).name}.tmp-123").write_bytes(b"half")  # killed mid-write
    assert [s for s, _ in list_checkpoints(d)] == [5, 30, 100]
    assert is_temporary(d / ".step_000000200.ckpt.tmp-123")
    atomic_write_bytes(d / "x", b"new")
    atomic_write_bytes(d / "x", b"newer")
    assert (d / "x").read_bytes() == b"newer"
