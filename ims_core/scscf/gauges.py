"""What the S-CSCF's gauges read at scrape time (``SipMetrics``; nothing is kept in step
per message):

- ``registrations_active``: registrations with a binding, one per implicit registration
  set (store.py: a UE registering one public identity is one, however many identities
  the set holds);
- ``contacts_active``: the bindings (contacts) they hold;
- ``reg_subscriptions_active``: the reg-event subscriptions served (regevent.py);
- ``calls_active``: the INVITE dialogs in progress (calls.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ims_core.cscf import CscfCore
from ims_core.metrics import SipMetrics

if TYPE_CHECKING:
    from .core import ScscfCore


def bind_metrics(core: ScscfCore, metrics: SipMetrics) -> None:
    """``ScscfCore.bind_metrics``: the proxy's gauges, then the S-CSCF's own."""
    CscfCore.bind_metrics(core, metrics)
    metrics.registrations_active.read = lambda: [((), len(core.store))]
    metrics.contacts_active.read = lambda: [((), core.store.binding_count())]
    metrics.reg_subscriptions_active.read = lambda: [((), core.store.subscription_count)]
    metrics.calls_active.read = lambda: [((), len(core.calls))]
