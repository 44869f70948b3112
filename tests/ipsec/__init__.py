"""Tests of ims_core.ipsec: algorithms and keys, the SA set, the XFRM codec, the kernels."""
