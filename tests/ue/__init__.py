"""Tests of our UE (ims_core.ue) against a fake registrar."""
