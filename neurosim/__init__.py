"""neurosim: train networks with BP and the feedback-alignment family, and cost
that training on a simulated tiled RRAM processor."""

__version__ = "0.1.0"

__all__ = ["__version__"]
