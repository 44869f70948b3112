"""Interop: the running HSS driven by clients and tools we did not write."""
