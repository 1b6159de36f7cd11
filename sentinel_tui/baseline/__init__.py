"""Baseline snapshots: build from a reference CSV, save and load (JSON + Parquet)."""
