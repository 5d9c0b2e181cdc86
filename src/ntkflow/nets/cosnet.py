"""The Cos-net (defined in :mod:`ntkflow.nets.features`)."""

from .features import CosNet as CosNet
