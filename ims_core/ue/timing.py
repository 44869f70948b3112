"""When a UE refreshes what the network granted it for a while."""

from __future__ import annotations

LONG_GRANT = 1200  # seconds
EARLY_BY = 600  # seconds


def refresh_delay(granted: float) -> float:
    """Seconds from a grant of ``granted`` seconds to its refresh: 600 s before it ends
    when it was for more than 1200 s, else half-way through. TS 24.229 §5.1.1.4.1 says
    so for registrations and §5.1.1.3 for the reg-event subscription."""
    return granted - EARLY_BY if granted > LONG_GRANT else granted / 2
