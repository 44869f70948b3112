"""The ims-core command and structlog setup."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ims_lab import cli


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("lab", "auth"):
        assert name in out


def test_auth_vector_matches_ts35208_set1(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["auth", "vector", "--k", "465b5ce8b199b49faa5f0a2ee238a6bc",
                   "--op", "cdc202d5123e20f62b6d676ac72cb318", "--sqn", "ff9bb4d0b607",
                   "--amf", "b9b9", "--rand", "23553cbe9637a89d218ae64dae47bf35"])
    assert rc == 0
    lines = dict(line.split() for line in capsys.readouterr().out.splitlines())
    assert lines["autn"] == "55f328b43577b9b94a9ffac354dfafb3"
    assert lines["xres"] == "a54211d5e3ba50bf"
    assert lines["nonce"] == "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M="


def test_auth_vector_rejects_bad_hex(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["auth", "vector", "--k", "zz", "--op", "00" * 16])
    assert info.value.code == 2
    assert "not hex" in capsys.readouterr().err


def test_console_script_runs() -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "ims-core")
    out = subprocess.run([exe, "auth", "info"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("backend ")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_log_formats(fmt: str) -> None:
    code = (
        "from ims_core import log; from ims_core.config import LogConfig;"
        f"log.setup(LogConfig(format={fmt!r}), node='hss');"
        "log.get('t').info('sip.tx', method='REGISTER', status=200)"
    )
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stderr.strip()
    if fmt == "json":
        rec = json.loads(err)
        assert rec["event"] == "sip.tx" and rec["status"] == 200 and rec["node"] == "hss"
        assert rec["level"] == "info" and rec["logger"] == "t"
    else:
        assert "sip.tx" in err and "method=REGISTER" in err


def test_module_level_logger_obeys_later_setup() -> None:
    """A logger taken at import time (before setup) still uses setup's level and format."""
    code = (
        "from ims_core import log; early = log.get('early');"
        "from ims_core.config import LogConfig;"
        "log.setup(LogConfig(level='warning', format='json'), node='n');"
        "early.info('hidden'); early.warning('shown', x=1)"
    )
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stderr.strip().splitlines()
    assert len(err) == 1, err
    rec = json.loads(err[0])
    assert rec["event"] == "shown" and rec["logger"] == "early" and rec["level"] == "warning"


def test_logger_keeps_its_methods_and_filters_as_configured() -> None:
    """After the first call a method is an attribute of the logger (no lookup per call);
    a level below the configured one still logs nothing, the others log as before."""
    code = (
        "import logging; from ims_core import log; from ims_core.config import LogConfig;"
        "early = log.get('early');"
        "log.setup(LogConfig(level='info', format='json'), node='n');"
        "[early.debug('hidden', i=i) for i in range(3)];"
        "early.info('shown', x=1); early.info('again', x=2);"
        "assert 'debug' in vars(early) and 'info' in vars(early);"
        "assert not early.is_enabled_for(logging.DEBUG) and early.is_enabled_for(logging.INFO)"
    )
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stderr.strip().splitlines()
    assert [json.loads(line)["event"] for line in err] == ["shown", "again"]
    assert all(json.loads(line)["logger"] == "early" for line in err)
