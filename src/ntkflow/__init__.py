"""ntkflow: neural-network metric flows, the metric neural tangent kernel, and numerical
Calabi-Yau metrics, in JAX.

Importing ntkflow enables 64-bit floats in JAX (``jax_enable_x64``): geometry and reference
solvers run in float64, which every comparison with an exact value needs. Training code picks
float32 explicitly where it is faster (arrays created with ``dtype=jnp.float32`` stay float32).
``NTKFLOW_CPU=1`` in the environment (or ``ntkflow --cpu``) forces the CPU backend.

Layout (data flows one way): geometry <- nets <- kernels <- flows <- experiments <- cli;
``cy`` builds on geometry and nets.
"""

import os

if os.environ.get("NTKFLOW_CPU", "").strip().lower() in ("1", "true", "yes", "on"):
    os.environ["JAX_PLATFORMS"] = "cpu"  # before JAX picks a backend (docs/runs.md)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

__version__ = "0.1.0"
