"""What the node keeps per request in flight: ours awaiting an answer
(:class:`PendingRequest`) and a peer's awaiting ours (:class:`Reply`). Plain objects with
slots: no task, coroutine or future per request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .message import Message

if TYPE_CHECKING:
    import asyncio

    from .connection import PeerSlot
    from .node import DiameterNode

# Gets a request's outcome: the answer, or the exception that stands for it.
AnswerCallback = Callable[[Message | Exception], None]
# Answers a received request: called once with the answer or the exception standing for it.
Respond = Callable[[Message | BaseException], None]
# Handles a received request; answers it through the Respond it is given, now or later.
Responder = Callable[[Message, Respond], None]
# Answers a received request as a coroutine (a task per request).
Handler = Callable[[Message], Awaitable[Message]]


class PendingRequest:
    """A request :meth:`DiameterNode.send_request` sent (or is about to send), until its
    outcome is delivered. :meth:`cancel` forgets it: ``on_answer`` will not be called."""

    __slots__ = (
        "deadline", "done", "hbh", "msg", "on_answer", "peer", "retried", "slot", "started",
        "task",
    )  # fmt: skip

    def __init__(self, msg: Message, on_answer: AnswerCallback, peer: str | None,
                 started: float, deadline: float) -> None:
        self.msg = msg
        self.on_answer = on_answer
        self.peer = peer
        self.started = started
        self.deadline = deadline
        self.retried = False
        self.done = False  # delivered or cancelled
        self.slot: PeerSlot | None = None  # where it waits for its answer, once sent
        self.hbh = 0
        self.task: asyncio.Task[None] | None = None  # waiting for a peer or for buffer room

    def cancel(self) -> None:
        if self.done:
            return
        self.done = True
        if self.task is not None:
            self.task.cancel()
            self.task = None
        slot = self.slot
        if slot is not None:
            self.slot = None
            if slot.pending.pop(self.hbh, None) is not None:
                slot.peer.cancel_request(self.hbh)


class Reply:
    """Answers one received request: a responder calls it once with the answer or with
    the exception that stands for one (later calls are ignored)."""

    __slots__ = ("done", "node", "request", "slot", "started")

    def __init__(self, node: DiameterNode, slot: PeerSlot, request: Message,
                 started: float) -> None:
        self.node = node
        self.slot = slot
        self.request = request
        self.started = started
        self.done = False

    def __call__(self, outcome: Message | BaseException) -> None:
        if not self.done:
            self.done = True
            self.node._reply(self.slot, self.request, outcome, self.started)


async def await_handler(handler: Handler, request: Message, reply: Reply) -> None:
    """Run a coroutine handler for *request*; what it returns or raises goes to *reply*."""
    try:
        answer: Message | BaseException = await handler(request)
    except Exception as exc:
        answer = exc
    reply(answer)
