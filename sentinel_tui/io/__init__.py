"""Batch readers: parse files into typed columns."""
