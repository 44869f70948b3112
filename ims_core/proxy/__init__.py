"""Transaction-stateful SIP proxy (RFC 3261 §16): the sans-I/O core (`ProxyCore`, its
routing and response-selection helpers) and the asyncio node (`ProxyServer`) that
wires it to the transport. The CSCFs subclass `ProxyCore` and override its hooks."""

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
