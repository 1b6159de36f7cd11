"""Engine: the pipeline that turns files into results (no terminal UI here)."""
