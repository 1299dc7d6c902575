"""CIFAR-10 on disk: the official download (:mod:`.download`) and the checks of a folder (:mod:`.dataset`)."""
