"""The exchange lines (one per SIP transaction / Diameter exchange): level by format."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from ims_core import log
from ims_core.config import ConfigError, LogConfig


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    log.setup(LogConfig(), stream=io.StringIO())


def _emit(cfg: LogConfig) -> str:
    out = io.StringIO()
    log.setup(cfg, node="scscf", stream=out)
    log.exchange(log.get("sip"), "sip_transaction", method="REGISTER", status=200,
                 call_id="abc", latency_ms=1.5)
    return out.getvalue()


def test_json_mode_logs_exchanges_at_info() -> None:
    line = json.loads(_emit(LogConfig(format="json")))
    assert line["event"] == "sip_transaction"
    assert line["level"] == "info"
    assert (line["method"], line["status"], line["call_id"]) == ("REGISTER", 200, "abc")
    assert log.exchanges_enabled()


def test_console_mode_keeps_them_at_debug() -> None:
    assert _emit(LogConfig()) == ""
    assert not log.exchanges_enabled()
    shown = _emit(LogConfig(level="debug"))
    assert "sip_transaction" in shown and "REGISTER" in shown


def test_explicit_level_and_off() -> None:
    assert "sip_transaction" in _emit(LogConfig(exchanges="info"))
    assert _emit(LogConfig(format="json", exchanges="off")) == ""
    assert _emit(LogConfig(format="json", level="warning")) == ""  # below the level


def test_bad_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="exchanges"):
        LogConfig(exchanges="loud")
