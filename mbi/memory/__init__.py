"""Memorization: distilling a RAM into a lookup table, and decoding its keys for people."""
