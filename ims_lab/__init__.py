"""The composition root: the ``ims-core`` command and the lab that wires the CSCFs
(:mod:`ims_core`) and the HSS (:mod:`hss`) together. Neither of those imports this package;
``ims_core`` does not import ``hss`` either (``tests/test_layers.py`` checks both)."""
