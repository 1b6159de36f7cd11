"""Performance: reference, metrics, the rolling window with late labels, assessment, segments."""
