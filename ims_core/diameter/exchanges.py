"""What a node records of each application exchange (sans I/O): the ``result_kind`` and
``result`` labels of an answer, the ``peers_open`` samples, and the ``cx_exchange`` line
(:func:`ims_core.log.exchange`). CER/CEA, DWR/DWA and DPR/DPA are not exchanges here:
the peer state machine answers them itself."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .. import log
from ..metrics.families import Labels
from ..metrics.groups import DiameterMetrics
from .errors import CxResult, DiameterTimeout, ResultCode
from .message import Message

if TYPE_CHECKING:
    from .connection import PeerSlot

# The ``result`` label of each code RFC 6733 §7.1 and TS 29.229 §6.2 define; any other
# (a peer may send any 32-bit value) is ``other``, so the label values stay few.
_CODE_LABELS = {int(c): str(int(c)) for c in (*ResultCode, *CxResult)}


def result_labels(answer: Message) -> tuple[str, str]:
    """``result_kind`` and ``result`` of an answer (an answer without a result: base, "")."""
    kind = answer.result_kind
    return ("base", "") if kind is None else (kind[0], _CODE_LABELS.get(kind[1], "other"))


def record(metrics: DiameterMetrics, logger: Any, role: str, command: str, request: Message,
           peer: str | None, latency: float, outcome: Message | BaseException) -> None:
    """Count one exchange (``requests``; ``latency`` when answered) and log its line when
    exchange lines are on."""
    if isinstance(outcome, Message):
        kind, result = result_labels(outcome)
        metrics.requests.inc(role, command, kind, result)
        metrics.latency.observe(latency, role, command)
    else:  # no answer: not in the latency histogram
        kind = "timeout" if isinstance(outcome, DiameterTimeout) else "error"
        metrics.requests.inc(role, command, kind, "")
    if log.exchanges_enabled():
        log_exchange(logger, role, request, peer, latency, outcome)


def peers_open(slots: Iterable[PeerSlot], known: Mapping[str, str]) -> list[tuple[Labels, float]]:
    """``peers_open`` samples: 1 for each peer open now, 0 for one configured (labelled
    host:port until its CEA names it) or once open (*known*: its Origin-Host, lower case
    → as it spells it) that is not."""
    state = dict.fromkeys(known.values(), 0.0)
    for slot in slots:
        peer = slot.peer
        caps = peer.capabilities
        if caps is not None:
            name = known.get(caps.origin_host.lower(), caps.origin_host)
        elif slot.address is not None:
            name = peer.name
        else:  # accepted, no CER yet: nobody to name
            continue
        if peer.is_open:
            state[name] = 1.0
        else:
            state.setdefault(name, 0.0)
    return [((name,), value) for name, value in sorted(state.items())]


def log_exchange(logger: Any, role: str, request: Message, peer: str | None, latency: float,
                 outcome: Message | BaseException) -> None:
    """The ``cx_exchange`` line; the caller asks :func:`ims_core.log.exchanges_enabled`
    first (the fields are AVP scans). ``result``: ``2001`` (Result-Code), ``exp 2001``
    (Experimental-Result-Code), ``none`` (an answer without either), ``timeout`` or
    ``error`` (with ``error``: why)."""
    fields: dict[str, Any] = {}
    for name, key in (("User-Name", "user"), ("Public-Identity", "impu")):
        value = request.get(name)
        if value is not None:
            fields[key] = value
    if isinstance(outcome, Message):
        kind = outcome.result_kind
        result = ("none" if kind is None else
                  f"exp {kind[1]}" if kind[0] == "experimental" else str(kind[1]))
    else:
        result = "timeout" if isinstance(outcome, DiameterTimeout) else "error"
        fields["error"] = str(outcome)
    log.exchange(
        logger, "cx_exchange", role=role, command=request.name,
        session_id=request.session_id, peer=peer, result=result,
        latency_ms=round(latency * 1000, 3), **fields,
    )  # fmt: skip
