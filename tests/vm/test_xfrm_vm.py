"""NetlinkKernel against a kernel with ESP (the VM's): P-CSCF SA sets with each
algorithm pair as ``ip xfrm`` lists them and as our dump decoder reads them, removal to
zero, and UDP and TCP through the SAs over lo with the selectors' protocol "any"
(tests/ipsec/xfrm_probe.py does the work inside the guest)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ims_core.ipsec import xfrm
from tests.ipsec.test_xfrm import KERNEL_POLICY_DUMP, KERNEL_SA_DUMP
from tests.vm.conftest import Booted, boot_once

pytestmark = pytest.mark.vm

TIMEOUT = 240.0  # the whole run takes 20-35 s under software emulation
COMMAND = "python -m tests.ipsec.xfrm_probe --traffic --capture /vmout"


@pytest.fixture(scope="module")
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Booted:
    return boot_once(request, tmp_path_factory, COMMAND, timeout=TIMEOUT,
                     label="xfrm VM test")


def test_every_check_in_the_guest_passes(run: Booted) -> None:
    assert not run.result.timed_out, run.result.report()
    assert run.lines("FAIL") == [], run.result.report()
    assert run.result.returncode == 0, run.result.report()
    summary = run.lines("xfrm probe:")
    assert summary and summary[0].endswith(" 0 failed"), run.result.report()
    oks = run.lines("ok: ")
    # Four sets: each SA in `ip xfrm state` and our dump, each policy in both.
    for what in ("ip xfrm state shows SA", "ip xfrm policy shows", "dump decodes SA",
                 "dump decodes policy"):
        assert sum(what in line for line in oks) == 16, (what, run.result.report())
    assert any("remove() leaves nothing (0, 0)" in line for line in oks), run.result.report()


def test_protocol_any_selectors_carry_udp_and_tcp(run: Booted) -> None:
    """TS 33.203 §7.1: UDP and TCP share the SA pairs, so one policy per SA with protocol
    "any" must do (else build_sa_set would need a policy per protocol)."""
    assert run.lines("proto-any") == ["proto-any udp=yes tcp=yes"], run.result.report()
    oks = run.lines("ok: ")
    assert any(line.startswith("ok: udp UE port_uc") for line in oks)
    assert any(line.startswith("ok: tcp UE port_uc") for line in oks)
    assert any(line.startswith("ok: udp P port_pc") for line in oks)
    assert any("unprotected datagram port_uc -> port_ps is dropped" in line for line in oks)


def test_the_pinned_kernel_dumps_still_hold(run: Booted) -> None:
    """tests/ipsec/test_xfrm.py decodes dump messages captured from this kernel; a fresh
    capture decodes the same (but for the policy's index)."""
    sa = xfrm.parse(bytes.fromhex((run.out / "dump_sa.hex").read_text()))
    policy = xfrm.parse(bytes.fromhex((run.out / "dump_policy.hex").read_text()))
    assert xfrm.decode_sa(sa[0]) == xfrm.decode_sa(xfrm.parse(KERNEL_SA_DUMP)[0])
    fresh, pinned = (xfrm.decode_policy(policy[0]),
                     xfrm.decode_policy(xfrm.parse(KERNEL_POLICY_DUMP)[0]))
    assert replace(fresh, index=0) == replace(pinned, index=0)
