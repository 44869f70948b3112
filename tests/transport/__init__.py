"""Tests for the asyncio SIP transport (real sockets on loopback)."""
