"""Atende's benchmark: `make bench` (full) and `make bench-quick` (a 5-minute subset)."""
