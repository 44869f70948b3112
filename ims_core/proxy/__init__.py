"""Transaction-stateful SIP proxy (RFC 3261 §16): the sans-I/O core (`ProxyCore`, its
routing and response-selection helpers) and the asyncio node (`ProxyServer`) that
wires it to the transport. The CSCFs subclass `ProxyCore` and override its hooks.

How `ProxyCore` (core.py) works: `receive(message, source, now)` takes each parsed
message from the transport. A new request gets a server transaction and a
`RequestContext`, is checked (§16.3: Max-Forwards, loops, Proxy-Require), has our Route
values removed (§16.4), and is routed by `route_request(ctx)`: to one or more `Target`s
(forked in parallel, each with its own client transaction and a unique branch), to a
local response, or to `None` when the decision comes later (the subclass then calls
`forward()` or `respond()`). Responses go upstream as §16.7 says: provisional at once
(not 100), every 2xx at once, otherwise the best final response once every branch has
one (a 503 goes up as 500). CANCEL is answered and propagated hop by hop (§16.10); a
CANCEL matching nothing, an ACK for a 2xx and responses matching no transaction are
forwarded statelessly (§16.11, §16.7). An OPTIONS addressed to us is answered here
(§11).

Every request gets a final response: a non-INVITE one within its server transaction's
guard (64*T1), an INVITE one within Timer C (§16.8) of its last branch ending, else a
500. Deadlines of finished work leave the heaps at once (`DeadlineHeap`). Outputs are
`Send`s drained with `data_to_send()`; `get_timer()` says when to call
`handle_timer(now)`; a failed `Send` comes back through `send_failed(item, now)`.

Subclasses (the CSCFs) override the hooks (`check_request`, `route_request`,
`should_record_route`, `on_forward`, `on_response`, `on_branch_final`, `on_final`) and
keep what they learn in a typed per-request state (`RequestContext.state`, `new_state`).

A core also sends requests of its own as a UAC (`ProxyCore.originate`, `.uac`).

What a core counts in its `metrics` (a `SipMetrics`, assignable before the node's server
is built) and the exchange line it logs per server transaction: `.stats`.
"""

from .branch import is_looped, loop_hash, new_branch, stateless_branch
from .config import ProxyConfig
from .context import Branch, RequestContext, Send
from .core import ProxyCore
from .routing import (
    DIALOG_CREATING,
    Target,
    apply_strict_route,
    is_local,
    preprocess_routes,
    record_route_value,
    request_destination,
    top_route,
)
from .selection import best_response

__all__ = [
    "DIALOG_CREATING",
    "Branch",
    "ProxyConfig",
    "ProxyCore",
    "RequestContext",
    "Send",
    "Target",
    "apply_strict_route",
    "best_response",
    "is_local",
    "is_looped",
    "loop_hash",
    "new_branch",
    "preprocess_routes",
    "record_route_value",
    "request_destination",
    "stateless_branch",
    "top_route",
]
