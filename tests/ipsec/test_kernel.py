"""The kernels: MemoryKernel's bookkeeping, and NetlinkKernel and check_support() against
this host's kernel, which has no ESP (the VM test installs SAs for real)."""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from pathlib import Path

import pytest

from ims_core.ipsec import (
    Endpoint,
    Kernel,
    MemoryKernel,
    NetlinkKernel,
    SaSet,
    XfrmError,
    build_sa_set,
    check_support,
)
from ims_core.ipsec.kernel import NO_CAP_NET_ADMIN, NO_ESP

IK = bytes.fromhex("f769bcd751044604127672711c6d3441")
CK = bytes.fromhex("b40ba9a3c58b2a05bbf0d987b21bf8cb")
# Documentation addresses (RFC 5737): no policy here can touch anyone's traffic.
PCSCF = Endpoint("198.51.100.1", port_c=5066, port_s=5064, spi_c=0x1001, spi_s=0x1002)
UE = Endpoint("198.51.100.10", port_c=40001, port_s=40000, spi_c=0x2001, spi_s=0x2002)
SA_SET = build_sa_set(PCSCF, UE, alg="hmac-sha-1-96", ealg="aes-cbc", ck=CK, ik=IK)
OTHER = build_sa_set(replace(PCSCF, port_c=5067, spi_c=0x1003, spi_s=0x1004),
                     replace(UE, port_c=40002, spi_c=0x2003, spi_s=0x2004),
                     alg="hmac-md5-96", ealg="null", ck=CK, ik=IK)


# -- MemoryKernel ---------------------------------------------------------------------------


def test_memory_kernel_is_a_kernel() -> None:
    kernel: Kernel = MemoryKernel()
    kernel.add(SA_SET)
    kernel.remove(SA_SET)


def test_memory_kernel_records_and_forgets_sets() -> None:
    kernel = MemoryKernel()
    kernel.add(SA_SET)
    kernel.add(OTHER)
    assert kernel.count() == (8, 8)
    assert set(SA_SET.sas) <= kernel.sas and set(OTHER.policies) <= kernel.policies
    kernel.remove(SA_SET)
    assert kernel.sas == set(OTHER.sas) and kernel.policies == set(OTHER.policies)
    kernel.remove(SA_SET)  # already gone: fine
    kernel.remove(OTHER)
    assert kernel.count() == (0, 0)


def test_memory_kernel_refuses_a_duplicate_and_changes_nothing() -> None:
    kernel = MemoryKernel()
    kernel.add(SA_SET)
    # Same destination and SPI as an installed SA, though the rest differs.
    clash = SaSet((*OTHER.sas, replace(SA_SET.sas[2], sport=1)), OTHER.policies)
    with pytest.raises(XfrmError) as caught:
        kernel.add(clash)
    assert caught.value.errno == errno.EEXIST and "already installed" in str(caught.value)
    assert kernel.count() == (4, 4)
    policy_clash = SaSet(OTHER.sas, (replace(SA_SET.policies[0], spi=0x9999),))
    with pytest.raises(XfrmError, match="policy in"):
        kernel.add(policy_clash)
    assert kernel.count() == (4, 4)


def test_memory_kernel_fail_next_fails_once() -> None:
    kernel = MemoryKernel(fail_next=OSError(errno.ENOBUFS, "no room"))
    with pytest.raises(XfrmError) as caught:
        kernel.add(SA_SET)
    assert caught.value.errno == errno.ENOBUFS and kernel.count() == (0, 0)
    kernel.add(SA_SET)
    own = XfrmError(errno.EPERM, "delete SA")
    kernel.fail_next = own
    with pytest.raises(XfrmError) as again:
        kernel.remove(SA_SET)
    assert again.value is own and kernel.count() == (4, 4)
    kernel.remove(SA_SET)
    assert kernel.count() == (0, 0)


def test_xfrm_error_is_an_os_error_that_says_what_failed() -> None:
    exc = XfrmError(errno.EPROTONOSUPPORT, "add SA x", "Requested type not found", NO_ESP)
    assert isinstance(exc, OSError) and exc.errno == errno.EPROTONOSUPPORT
    assert exc.operation == "add SA x" and exc.meaning == NO_ESP
    assert str(exc) == (f"[Errno {errno.EPROTONOSUPPORT}] add SA x: "
                        f"{os.strerror(errno.EPROTONOSUPPORT)} ({NO_ESP}) "
                        "[kernel: Requested type not found]")


# -- check_support ----------------------------------------------------------------------------


def status_file(tmp_path: Path, cap_eff: str) -> Path:
    path = tmp_path / "status"
    path.write_text(f"Name:\tpython\nCapInh:\t0000000000000000\nCapEff:\t{cap_eff}\n")
    return path


def test_check_support_without_cap_net_admin(tmp_path: Path) -> None:
    # Every capability but bit 12.
    assert check_support(status_file(tmp_path, "000001ffffffefff")) == NO_CAP_NET_ADMIN
    assert check_support(status_file(tmp_path, "0000000000000000")) == NO_CAP_NET_ADMIN
    assert check_support(tmp_path / "missing") == NO_CAP_NET_ADMIN


# -- NetlinkKernel on this host ---------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CAP_NET_ADMIN)")


@pytest.fixture
def kernel() -> NetlinkKernel:
    try:
        return NetlinkKernel()
    except XfrmError as exc:
        pytest.skip(f"no NETLINK_XFRM here: {exc}")


def ours(kernel: NetlinkKernel) -> tuple[list[object], list[object]]:
    """What of SA_SET and OTHER (by address) is in the kernel."""
    mine = {PCSCF.host, UE.host}
    return ([s for s in kernel.dump_sas() if s.dst in mine],
            [p for p in kernel.dump_policies() if p.selector.dst in mine])


def has_esp() -> bool:
    return check_support() is None


@needs_root
def test_check_support_names_what_is_missing_here() -> None:
    reason = check_support()
    if reason is None:
        pytest.skip("this host's kernel has ESP (the no-ESP answer cannot be seen here)")
    assert reason == NO_ESP


@needs_root
def test_add_without_esp_raises_a_clear_error_and_leaves_nothing(
        kernel: NetlinkKernel) -> None:
    if has_esp():
        pytest.skip("this host's kernel has ESP")
    with kernel, pytest.raises(XfrmError) as caught:
        kernel.add(SA_SET)
    exc = caught.value
    assert exc.errno == errno.EPROTONOSUPPORT
    assert exc.operation == "add SA 198.51.100.10:40001 -> 198.51.100.1:5064 spi 0x00001002"
    assert "the kernel has no ESP (esp4 / CONFIG_INET_ESP)" in str(exc)
    with NetlinkKernel() as fresh:
        assert ours(fresh) == ([], [])


@needs_root
def test_add_undoes_what_it_added_when_a_step_fails(kernel: NetlinkKernel) -> None:
    """Policies need no ESP: the second copy of a policy fails with EEXIST, and the first
    one is taken out again."""
    duplicate = SaSet((), (OTHER.policies[0], OTHER.policies[1], OTHER.policies[0]))
    with kernel:
        try:
            with pytest.raises(XfrmError) as caught:
                kernel.add(duplicate)
            assert caught.value.errno == errno.EEXIST
            assert caught.value.operation == (
                "add policy in 198.51.100.10:40002 -> 198.51.100.1:5064 spi 0x00001004")
            assert ours(kernel) == ([], [])
        finally:
            kernel.remove(duplicate)


@needs_root
def test_policies_go_in_and_out(kernel: NetlinkKernel) -> None:
    policies_only = SaSet((), OTHER.policies)
    with kernel:
        kernel.add(policies_only)
        try:
            got = ours(kernel)[1]
            assert len(got) == 4
        finally:
            kernel.remove(policies_only)
        assert ours(kernel) == ([], [])


@needs_root
def test_removing_what_is_not_there_is_fine(kernel: NetlinkKernel) -> None:
    with kernel:
        kernel.remove(SA_SET)  # ESRCH for the SAs, ENOENT for the policies: both ignored
        assert ours(kernel) == ([], [])
