"""Pure statistics: NumPy/SciPy only."""
