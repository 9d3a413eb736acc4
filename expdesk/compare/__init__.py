"""Comparing runs: diff tables, series alignment, smoothing, decimation and matplotlib Figure builders (no Qt)."""
