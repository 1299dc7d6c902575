"""Classifiers: the two-layer net and the fully-connected net of any depth."""
from .fc_net import FullyConnectedNet
from .neural_net import TwoLayerNet

__all__ = ["FullyConnectedNet", "TwoLayerNet"]
