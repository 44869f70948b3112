"""The P-CSCF's registrations across restarts (`ims_core.persist.Persistent`), sans-I/O
but for the backend the runner hands `restore`.

The runner calls `restore` once, before SIP is bound, then `attach_journal`: from then on
the store records every save and removal of a registration (registrations.py), and the
runner's writer applies them to the backend within `max_delay`. A SIGKILL loses at most
that much: a UE whose REGISTER's 2xx fell into it is unknown after the restart and gets 403
until it registers again (TS 24.229 §5.2.6.3.1), as after any lost registration.

What comes back, and what does not:

- Every registration record not protected by IPsec: flow, bindings and their expiry,
  Service-Route, P-Associated-URI set, Path. Records that lapsed while we were down, or
  that do not decode, are dropped (and deleted from the backend); the rest are saved into
  the store, which re-arms their expiry. The S-CSCFs their Service-Routes name are core
  nodes again (`from_core`), so terminating requests from them are accepted.
- `conn`, the UE's TCP connection, is process-local: a restored TCP registration has none.
  A request towards the UE then goes as after its connection closed: to a connection the
  transport has to the flow's address (the UE reconnected from the same port), else over a
  new connection to that address; if the UE does not listen there the request fails as
  towards any unreachable UE (RFC 3261 §16.9: a transport error counts as a 503), and the
  S-CSCF may try the UE's other contacts. A request from the UE over a new connection
  comes from another flow (another port): 403 until it registers again, as when its
  connection closes without a restart. UDP flows need nothing: they are addresses.
- IPsec security associations are kernel state set up with keys of the lost AKA exchange:
  out of reach. A protected registration is never persisted (its save journals a delete)
  and one found anyway is dropped: restored unprotected it would let anyone sending from
  the UE's address and port act as the UE. The UE's requests over its old SAs get 403
  and it registers again.
- Our reg event subscriptions (regsub.py) are not persisted: each restored default
  identity gets a fresh SUBSCRIBE along its Service-Route (TS 24.229 §5.2.3), spread
  over `RESUBSCRIBE_SPREAD` seconds after `RESUBSCRIBE_DELAY`. Its first NOTIFY has the
  full state (RFC 3680 §5.2), so a de-registration the S-CSCF sent while we were down is
  applied then. The S-CSCF's old subscription ends at its next NOTIFY, which we answer 481
  (RFC 6665 §4.1.3), or at its expiry.
- Transactions, dialogs' transient state and the `departed` grace bindings are not kept.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ims_core import log

from .registrations import (
    JOURNAL_KIND,
    Registration,
    decode_registration,
    encode_registration,
    record_key,
)

if TYPE_CHECKING:
    from ims_core.persist import Backend, Journal

    from .core import PcscfCore

_log = log.get("pcscf")

# Fresh reg event subscriptions after a restart: the first a second after start (the
# transport is up by then), all within the spread, so thousands of restored identities do
# not hit the S-CSCF in one burst.
RESUBSCRIBE_DELAY = 1.0
RESUBSCRIBE_SPREAD = 10.0


def attach_journal(core: PcscfCore, journal: Journal) -> None:
    """`PcscfCore.attach_journal`: record every change of the store in `journal`, times on
    the wall clock with the offset `restore` worked out."""
    core.store.journal = journal


def restore(core: PcscfCore, backend: Backend, wall_now: float, loop_now: float) -> int:
    """`PcscfCore.restore`: load the registrations `backend` holds into the store (see the
    module docstring for what is kept and what is dropped); returns how many came back."""
    store = core.store
    offset = store.clock_offset = wall_now - loop_now
    fixes: dict[str, bytes | None] = {}  # what the backend gets: drops, records rekeyed
    restored: list[Registration] = []
    for key, data in backend.load(JOURNAL_KIND):
        reg = live_record(key, data, offset, loop_now)
        if reg is None:
            fixes.setdefault(key, None)
            continue
        if (own := record_key(reg.key)) != key:  # written by a version that keyed it otherwise
            fixes.setdefault(key, None)
            fixes[own] = encode_registration(reg, offset)
        store.save(reg)  # no journal yet: nothing recorded
        restored.append(reg)
    if fixes:
        from ims_core.persist.journal import Change  # only with persistence on

        backend.apply([Change(JOURNAL_KIND, k, v) for k, v in fixes.items()])
    for reg in restored:
        for value in reg.service_route:
            core._learn_core_node(value)
    resubscribe(core, restored, loop_now)
    dropped = sum(v is None for v in fixes.values())
    _log.info("pcscf.restored", registrations=len(store), dropped=dropped)
    return len(restored)


def live_record(key: str, data: bytes, offset: float, now: float) -> Registration | None:
    """The record stored under `key`, without the bindings that lapsed by `now`; None when
    it does not decode, was protected, or has no binding left."""
    try:
        reg = decode_registration(data, offset)
    except ValueError as exc:
        _log.warning("pcscf.restore_bad_record", key=key, error=str(exc))
        return None
    if reg.protected:
        return None
    live = tuple(b for b in reg.bindings if b.expires > now)
    if not live:
        return None
    return reg if len(live) == len(reg.bindings) else replace(reg, bindings=live)


def resubscribe(core: PcscfCore, restored: list[Registration], now: float) -> None:
    """A fresh reg event subscription per restored default identity (TS 24.229 §5.2.3),
    sent by the timer: `restore` runs before the transport is up."""
    step = RESUBSCRIBE_SPREAD / len(restored) if restored else 0.0
    for i, reg in enumerate(restored):
        core.regsub.subscribe(reg, now, at=now + RESUBSCRIBE_DELAY + i * step)
