"""`ims-core proxy` argument handling (the process itself runs in tests/integration)."""

from __future__ import annotations

import argparse

import pytest

from ims_core.proxy.cli import host_port
from ims_lab.cli import build_parser


def test_host_port() -> None:
    assert host_port("127.0.0.5:5070") == ("127.0.0.5", 5070)
    assert host_port("[::1]:5060") == ("::1", 5060)
    for bad in ("nohost", ":5060", "h:99999", "h:x"):
        with pytest.raises(argparse.ArgumentTypeError):
            host_port(bad)


def test_proxy_subcommand_is_registered() -> None:
    args = build_parser().parse_args(
        ["proxy", "--listen", "127.0.0.1:5060", "--next-hop", "127.0.0.2:5060",
         "--record-route"])
    assert args.listen == ("127.0.0.1", 5060)
    assert args.next_hop == ("127.0.0.2", 5060)
    assert args.record_route is True
