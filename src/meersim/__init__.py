"""meersim: simulation-first self-supervised learning on MeerKAT radio images."""

__version__ = "0.1.0"
