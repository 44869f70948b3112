"""Integration tests: real processes, SIPp and tshark on loopback."""
