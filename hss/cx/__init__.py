"""Cx procedures, one module each: :mod:`.uar`, :mod:`.mar`, :mod:`.sar`, :mod:`.lir`.

:data:`HANDLERS` maps command codes to ``handle(request, ctx) -> answer``.
"""

from __future__ import annotations

from collections.abc import Callable

from hss.cx import lir, mar, sar, uar
from hss.cx.common import CxContext, Outcome
from ims_core.diameter import LIR, MAR, SAR, UAR, Message

Handler = Callable[[Message, CxContext], Message]

HANDLERS: dict[int, Handler] = {
    UAR: uar.handle,
    MAR: mar.handle,
    SAR: sar.handle,
    LIR: lir.handle,
}

__all__ = ["HANDLERS", "CxContext", "Handler", "Outcome", "lir", "mar", "sar", "uar"]
