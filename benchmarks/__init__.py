"""Benchmarks of vsql against its peers: `python -m benchmarks.exact` (exact k-NN).

`benchmarks.data` makes the seeded data sets every benchmark shares.
"""
