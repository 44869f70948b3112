"""Test suite; subpackages mirror ims_core/ and hss/."""
