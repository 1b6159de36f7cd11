"""Simulators: tabular and frame batches, and the demo that drives them."""
