"""Cx procedures, one module each: :mod:`.uar`, :mod:`.mar`, :mod:`.sar`, :mod:`.lir` (the
HSS answers) and :mod:`.rtr`, :mod:`.ppr` (the HSS asks; what they share is :mod:`.push`).

:data:`HANDLERS` maps command codes to ``handle(request, ctx) -> answer``; :data:`PUSHES`
maps the outbox's kinds to their :class:`~.push.Procedure`.
"""

from __future__ import annotations

from collections.abc import Callable

from hss.cx import lir, mar, ppr, rtr, sar, uar
from hss.cx.common import CxContext, Outcome
from hss.cx.push import Procedure
from hss.model import PushKind
from ims_core.diameter import LIR, MAR, SAR, UAR, Message

Handler = Callable[[Message, CxContext], Message]

HANDLERS: dict[int, Handler] = {
    UAR: uar.handle,
    MAR: mar.handle,
    SAR: sar.handle,
    LIR: lir.handle,
}

# The procedures that only read the store: UAR and LIR change no registration state or
# SQN (TS 29.228 §6.1.1.1, §6.1.4.1); MAR and SAR do (§6.3.1, §6.1.2.1).
READ_ONLY: frozenset[int] = frozenset({UAR, LIR})

PUSHES: dict[PushKind, Procedure] = {
    PushKind.RTR: Procedure(rtr.prepare, rtr.on_answer),
    PushKind.PPR: Procedure(ppr.prepare, ppr.on_answer),
}

__all__ = [
    "HANDLERS", "PUSHES", "READ_ONLY", "CxContext", "Handler", "Outcome", "Procedure", "lir",
    "mar", "ppr", "rtr", "sar", "uar",
]  # fmt: skip
