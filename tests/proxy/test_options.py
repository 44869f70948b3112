"""OPTIONS addressed to the proxy itself is answered by the core, before any routing
(RFC 3261 §11, §16.3 step 3)."""

from __future__ import annotations

from typing import ClassVar

from ims_core.proxy import ProxyConfig, ProxyCore, RequestContext, Target

from .messages import PROXY, request
from .test_core import Harness, downstream, upstream


class Node(ProxyCore[None]):
    """A node with capabilities of its own whose routing must never see the OPTIONS."""

    allow: ClassVar[str] = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"
    supported: ClassVar[str] = "path"

    def route_request(self, ctx: RequestContext[None]) -> Target:
        raise AssertionError("routing reached")


def node() -> Harness:
    return Harness(Node(ProxyConfig(host=PROXY[0], port=PROXY[1])))


def test_options_to_our_address_is_answered_200_with_allow_and_supported() -> None:
    sends = node().rx(request("OPTIONS", uri=f"sip:{PROXY[0]}:{PROXY[1]}"))
    assert downstream(sends) == []
    [resp] = upstream(sends)
    assert resp.status == 200 and resp.to_tag
    assert resp.headers.get("allow") == "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"
    assert resp.headers.get("supported") == "path"


def test_options_to_us_through_our_own_route_is_answered() -> None:
    req = request("OPTIONS", uri=f"sip:ping@{PROXY[0]}:{PROXY[1]}",
                  extra=f"Route: <sip:{PROXY[0]}:{PROXY[1]};lr>\r\n")
    [resp] = upstream(node().rx(req))
    assert resp.status == 200


def test_options_with_max_forwards_zero_is_answered_200() -> None:
    [resp] = upstream(node().rx(request("OPTIONS", max_forwards=0)))
    assert resp.status == 200 and resp.headers.get("allow")  # §16.3 step 3


def test_other_methods_with_max_forwards_zero_still_get_483() -> None:
    [resp] = upstream(node().rx(request("MESSAGE", max_forwards=0)))
    assert resp.status == 483


def test_the_plain_proxy_allows_the_basic_methods_and_names_no_extension() -> None:
    [resp] = upstream(Harness().rx(request("OPTIONS", uri=f"sip:{PROXY[0]}:{PROXY[1]}")))
    assert resp.status == 200
    assert resp.headers.get("allow") == ProxyCore.allow and "supported" not in resp.headers


def test_options_for_someone_else_is_forwarded() -> None:
    [(fwd, _)] = downstream(Harness().rx(request("OPTIONS", uri="sip:bob@example.com")))
    assert fwd.method == "OPTIONS"


def test_options_to_us_with_a_route_onwards_follows_the_route() -> None:
    req = request("OPTIONS", uri=f"sip:{PROXY[0]}:{PROXY[1]}",
                  extra="Route: <sip:192.0.2.30:5070;lr>\r\n")
    [(fwd, send)] = downstream(Harness().rx(req))
    assert fwd.method == "OPTIONS" and send.dest.port == 5070
