"""End-to-end IMS registration tests: P-/I-/S-CSCF and HSS as four processes on loopback."""
