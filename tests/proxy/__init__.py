"""Tests for the stateful proxy core (sans-I/O) and its asyncio node."""
