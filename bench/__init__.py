"""Reproducible benchmarks, each beside its baseline in the same run (docs/performance.md)."""
