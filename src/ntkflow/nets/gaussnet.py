"""The Gauss-net (defined in :mod:`ntkflow.nets.features`)."""

from .features import GaussNet as GaussNet
