"""Tests for ims_core.sip."""
