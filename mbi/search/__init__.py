"""Nearest-key search: the eq. (1) distance and the searchers (brute force, k-means tree)."""
