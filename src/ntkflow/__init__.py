"""ntkflow: neural-network metric flows, the metric neural tangent kernel, and numerical
Calabi-Yau metrics, in JAX.

Importing ntkflow enables 64-bit floats in JAX; training code picks float32 explicitly.
``NTKFLOW_CPU=1`` (or ``ntkflow --cpu``) forces the CPU backend. Layers (data flows one way):
geometry <- nets <- kernels <- flows <- cy <- experiments <- cli; io imports none of them.
"""

import os

if os.environ.get("NTKFLOW_CPU", "").strip().lower() in ("1", "true", "yes", "on"):
    os.environ["JAX_PLATFORMS"] = "cpu"  # before JAX picks a backend (docs/runs.md)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

__version__ = "0.1.0"
