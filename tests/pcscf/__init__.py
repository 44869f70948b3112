"""Tests for the P-CSCF: sans-I/O core with a fake clock, store, and the node on loopback."""
