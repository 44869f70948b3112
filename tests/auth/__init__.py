"""Tests of ims_core.auth (C module and pure-Python twin)."""
