"""``ims-core``: each command loads its own module only, and --help still lists them all."""

from __future__ import annotations

import argparse
import subprocess

import pytest

from ims_lab import cli
from ims_lab.procs import IMS_CORE


def choices(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_the_full_parser_has_every_command_in_the_table_order() -> None:
    assert choices(cli.build_parser()) == list(cli.COMMANDS)
    assert choices(cli.build_parser("no-such-command")) == list(cli.COMMANDS)


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_the_module_named_for_a_command_registers_it(command: str) -> None:
    assert command in choices(cli.build_parser(command))


def test_a_ue_does_not_load_the_hss_or_the_cscf_servers() -> None:
    code = ("import sys; from ims_lab import cli; cli.build_parser('ue'); "
            "print(sorted(m for m in sys.modules if m == 'hss' or m.startswith(("
            "'hss.', 'ims_core.cscf.server', 'ims_core.scscf', 'ims_core.pcscf.core'))))")
    out = subprocess.run([IMS_CORE[0], "-c", code], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert out.strip() == "[]"


def test_an_unknown_command_is_refused_with_the_list() -> None:
    out = subprocess.run([*IMS_CORE, "bogus"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "invalid choice: 'bogus'" in out.stderr and "'subscriber'" in out.stderr
