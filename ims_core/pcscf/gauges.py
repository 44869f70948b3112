"""What the P-CSCF's gauges read at scrape time (``SipMetrics``; nothing is kept in step
per message):

- ``registrations_active``: registration records, one per public identity registered
  over a flow (registrations.py: a UE registering one IMPU is one);
- ``contacts_active``: the contacts those records hold;
- ``reg_subscriptions_active``: our own reg-event subscriptions (regsub.py, TS 24.229
  §5.2.3: one per registered default identity, whatever their dialog's state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ims_core.cscf import CscfCore
from ims_core.metrics import SipMetrics

if TYPE_CHECKING:
    from .core import PcscfCore


def bind_metrics(core: PcscfCore, metrics: SipMetrics) -> None:
    """``PcscfCore.bind_metrics``: the proxy's gauges, then the P-CSCF's own."""
    CscfCore.bind_metrics(core, metrics)
    metrics.registrations_active.read = lambda: [((), len(core.store))]
    metrics.contacts_active.read = lambda: [((), core.store.binding_count())]
    metrics.reg_subscriptions_active.read = lambda: [((), len(core.regsub))]
