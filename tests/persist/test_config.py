"""The [persist] table."""

from __future__ import annotations

import pytest

from ims_core.config import ConfigError
from ims_core.persist import PersistConfig


def test_defaults_are_off_and_derive_names_from_the_node() -> None:
    c = PersistConfig()
    assert not c.enabled and c.max_delay == 0.2
    assert c.sqlite_path("scscf") == "scscf-state.sqlite"
    assert c.redis_prefix("pcscf") == "pcscf"
    named = PersistConfig(backend="redis", path="/x.db", prefix="p1", max_delay_ms=50)
    assert named.enabled and named.max_delay == 0.05
    assert named.sqlite_path("scscf") == "/x.db" and named.redis_prefix("scscf") == "p1"


@pytest.mark.parametrize("kw", [{"backend": "mysql"}, {"max_delay_ms": 0}])
def test_bad_values_are_config_errors(kw: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        PersistConfig(**kw)  # type: ignore[arg-type]
