"""Versioned datasets that evaluations, benchmarks and tests share."""
