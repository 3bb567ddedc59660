"""Benchmarks of the sales pipeline (see benchmarks/batch.py)."""
