"""What every route needs: the store, the home domain, the clock; and the path types."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Path, Request

from hss.api.schemas import MAX_URI
from hss.model import IMSI_RE
from hss.store import Store


@dataclasses.dataclass(frozen=True, slots=True)
class ApiContext:
    store: Store
    domain: str  # the home domain: IMPI, derived IMPUs, the Digest realm of HA1
    clock: Callable[[], float] = time.time  # wall clock: when a push was queued

    def now(self) -> float:
        return self.clock()


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]
ImsiPath = Annotated[str, Path(pattern=IMSI_RE.pattern, description="the IMSI",
                               examples=["001010000000001"])]
IdentityPath = Annotated[str, Path(min_length=1, max_length=MAX_URI,
                                   description="a public identity (any form that names it: "
                                               "parameters and tel: separators are ignored)")]
