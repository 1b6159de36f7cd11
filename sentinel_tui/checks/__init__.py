"""Checks: batch + baseline -> typed result. No files, no terminals."""
