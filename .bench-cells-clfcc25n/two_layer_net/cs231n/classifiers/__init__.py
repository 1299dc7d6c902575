"""Classifiers: the two-layer net (neural_net) and the fully-connected net of any depth (fc_net).

Import them from their modules, as the notebooks do
(``from cs231n.classifiers.fc_net import FullyConnectedNet``): each assignment ships only
the classifier it needs, so this package imports nothing itself.
"""
