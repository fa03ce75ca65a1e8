"""Reproducible benchmarks, each measured beside its baseline in the same run (see docs/performance.md)."""
