"""The CS231n-style student package: layers, classifiers, optimizers and utilities."""
