"""S-CSCF tests: the registrar core with a fake clock and the real HSS Cx handlers."""
