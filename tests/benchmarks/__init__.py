"""Benchmarks (`make bench`): not part of `make test`; they print their figures and the targets."""
