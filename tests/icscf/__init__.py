"""I-CSCF: UAR from REGISTER, S-CSCF selection, UAA error mapping, the app."""
