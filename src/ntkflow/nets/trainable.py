"""Which parameters train: ``params, static = eqx.partition(model, trainable(model))``.

A module decides for itself through a ``trainable_mask()`` method (an MLP in "last layer only"
mode marks only its read-out layer — the NNGP regime of paper §3(b), where the NTK equals the
NNGP kernel K(x, x')); every other floating-point array is trainable."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

TRAIN_MODES = ("all", "last")


def _has_mask(node: Any) -> bool:
    return isinstance(node, eqx.Module) and hasattr(node, "trainable_mask")


def trainable(model: Any) -> Any:
    """Boolean filter spec (same structure as ``model``) marking the trainable arrays."""

    def spec(node):
        return node.trainable_mask() if _has_mask(node) else eqx.is_inexact_array(node)

    return jax.tree.map(spec, model, is_leaf=_has_mask)


def frozen_mask(tree: Any) -> Any:
    """All-``False`` spec with the structure of ``tree``."""
    return jax.tree.map(lambda _: False, tree)
