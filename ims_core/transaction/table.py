"""The transaction table: creation, matching (§17.1.3, §17.2.3) and one timer heap.

Client transactions are keyed by (top Via branch, method) — for a response, the CSeq
method. Server transactions are keyed by (branch, sent-by, method) when the branch has
the magic cookie, with ACK mapped to INVITE; otherwise by the RFC 2543 fields named at
the end of §17.2.3 (Request-URI, From tag, Call-ID, CSeq number, top Via; the To tag
is left out so the ACK, which carries the response's tag, still matches).

Transactions tell the table after each input (their earliest deadline may have moved)
and when they terminate, so the TU may call a transaction's methods directly. The heap
holds one deadline per live transaction (`DeadlineHeap`): a finished transaction leaves
it at once. `handle_timer(now)` fires what is due and returns the transactions it
touched, whose outputs the TU then drains.

`metrics` (a private set unless the TU assigns its own) is where the transactions count
what they send by themselves and what they absorb (see the transaction classes); the
table counts each client transaction's request in ``requests_sent`` as it creates it,
and its `active` is what ``transactions_active`` reads at scrape time.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

from ims_core.deadlines import DeadlineHeap
from ims_core.metrics import SipMetrics, method_label
from ims_core.sip import MAGIC_COOKIE, Message, Request, Response, SipParseError

from .base import TERMINATED, Transaction, TransactionError
from .client import ClientTransaction, InviteClientTransaction, create_client_transaction
from .config import TimerConfig
from .server import InviteServerTransaction, ServerTransaction, create_server_transaction

Key = tuple[object, ...]


def client_key(message: Message) -> Key:
    """§17.1.3: branch of the top Via plus the method (CSeq method of a response)."""
    method = message.method if isinstance(message, Request) else message.cseq.method
    return (message.top_via_view().branch or "", method)


def server_key(request: Request, method: str | None = None) -> Key:
    """§17.2.3 key of the server transaction `request` belongs to. `method` overrides
    the request's (used to find the INVITE a CANCEL refers to)."""
    via = request.top_via_view()
    if method is None:
        method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        return (branch, via.sent_by, method)
    return (
        "rfc2543", request.uri_text, request.from_tag, request.call_id,
        request.cseq.seq, via.sent_by, branch, method,
    )


class TransactionTable:
    """All live transactions of one element, with a shared timer heap."""

    def __init__(self, config: TimerConfig | None = None) -> None:
        self.config = config if config is not None else TimerConfig()
        self._clients: dict[Key, ClientTransaction] = {}
        self._servers: dict[Key, ServerTransaction] = {}
        # One entry per live transaction with a timer, set by the transaction itself.
        self.timers: DeadlineHeap[Transaction] = DeadlineHeap()
        self.metrics = SipMetrics.create()

    def __len__(self) -> int:
        return len(self._clients) + len(self._servers)

    def active(self) -> list[tuple[tuple[str, ...], float]]:
        """How many transactions of each kind the table holds (``transactions_active``;
        counted when asked, at scrape time: nothing is kept in step per message)."""
        servers = collections.Counter(map(type, self._servers.values()))
        clients = collections.Counter(map(type, self._clients.values()))
        invite_servers = servers.pop(InviteServerTransaction, 0)
        invite_clients = clients.pop(InviteClientTransaction, 0)
        return [(("invite_server",), invite_servers),
                (("non_invite_server",), sum(servers.values())),
                (("invite_client",), invite_clients),
                (("non_invite_client",), sum(clients.values()))]

    def __iter__(self) -> Iterator[Transaction]:
        yield from self._clients.values()
        yield from self._servers.values()

    # -- creation ----------------------------------------------------------------------
    def create_client(
        self, request: Request, *, reliable: bool, now: float, data: bytes | None = None,
        branch: str | None = None,
    ) -> ClientTransaction:
        """Start a client transaction; its request is waiting in `data_to_send()`.
        `data`: `request.to_bytes()` if the TU already has it (saves serialising twice);
        `branch`: the top Via's branch if the TU just wrote it (saves parsing it back)."""
        key = client_key(request) if branch is None else (branch, request.method)
        if key in self._clients:
            raise TransactionError(f"client transaction {key} exists")
        tx = create_client_transaction(
            request, reliable=reliable, now=now, config=self.config, key=key, data=data
        )
        self._clients[key] = tx
        self._adopt(tx)
        self.metrics.requests_sent.inc(method_label(request.method))
        return tx

    def create_server(
        self, request: Request, *, reliable: bool, now: float, send_trying: bool = False,
        key: Key | None = None,
    ) -> ServerTransaction:
        """Start a server transaction for a request `match_request` did not match.
        `key`: the one `lookup_request` just gave for it (saves working it out twice)."""
        if key is None:
            key = server_key(request)
        if key in self._servers:
            raise TransactionError(f"server transaction {key} exists")
        tx = create_server_transaction(
            request, reliable=reliable, now=now, config=self.config, key=key,
            send_trying=send_trying,
        )
        self._servers[key] = tx
        self._adopt(tx)
        return tx

    def _adopt(self, tx: Transaction) -> None:
        tx._owner = self
        tx._sync()

    # -- matching ----------------------------------------------------------------------
    def match_response(self, response: Response) -> ClientTransaction | None:
        try:
            return self._clients.get(client_key(response))
        except SipParseError:
            return None

    def match_request(self, request: Request) -> ServerTransaction | None:
        return self.lookup_request(request)[1]

    def lookup_request(self, request: Request) -> tuple[Key | None, ServerTransaction | None]:
        """`match_request`, with the key looked under (None when the request's fields
        cannot give one) for `create_server` to reuse."""
        try:
            key = server_key(request)
        except SipParseError:
            return None, None
        return key, self._servers.get(key)

    def match_cancel(self, cancel: Request) -> ServerTransaction | None:
        """The INVITE server transaction a CANCEL refers to (§9.2), or None."""
        try:
            return self._servers.get(server_key(cancel, "INVITE"))
        except SipParseError:
            return None

    def receive(self, message: Request | Response, now: float) -> Transaction | None:
        """Deliver a message to its transaction and return it; None if nothing matched
        (a new request, a stray response or a 2xx ACK: the TU's business)."""
        if isinstance(message, Response):
            ctx = self.match_response(message)
            if ctx is not None:
                ctx.receive(message, now)
            return ctx
        stx = self.match_request(message)
        if stx is not None:
            stx.receive(message, now)
        return stx

    # -- timers ------------------------------------------------------------------------
    def _forget(self, tx: Transaction) -> None:
        if tx._scheduled is not None:
            tx._scheduled = None
            self.timers.discard(tx)
        table: dict[Key, ClientTransaction] | dict[Key, ServerTransaction]
        table = self._clients if isinstance(tx, ClientTransaction) else self._servers
        if tx.key is not None and table.get(tx.key) is tx:
            del table[tx.key]

    def get_timer(self) -> float | None:
        """The earliest deadline of any live transaction, or None."""
        return self.timers.peek()

    def handle_timer(self, now: float) -> list[Transaction]:
        """Fire every due timer; returns the transactions that had one."""
        fired = self.timers.pop_due(now)
        for tx in fired:
            tx._scheduled = None  # out of the heap now
        for tx in fired:
            tx.handle_timer(now)  # firing syncs it (back in at its next deadline) ...
            if tx._scheduled is None and tx.state is not TERMINATED:
                tx._sync()  # ... this covers one that found nothing due after all
        return fired
