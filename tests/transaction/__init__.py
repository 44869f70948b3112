"""Tests for ims_core.transaction."""
