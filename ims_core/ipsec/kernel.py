"""Where SA sets go: the :class:`Kernel` protocol the P-CSCF and the UE install through,
:class:`NetlinkKernel` (the adapter: a blocking NETLINK_XFRM socket speaking
:mod:`.xfrm`), :class:`MemoryKernel` for tests, and :func:`check_support`.

Importing this module opens nothing (``socket`` is imported when a NetlinkKernel is made),
so sans-I/O cores may name the protocol, the error and the memory kernel.

Errnos the kernel answers with, as XfrmError.errno:

- EPERM: CAP_NET_ADMIN is missing.
- EPROTONOSUPPORT on adding an SA: no ESP in the kernel (esp4 / esp6 not built or not
  loadable); on opening the socket: no NETLINK_XFRM (CONFIG_XFRM_USER).
- ENOSYS: an algorithm name the kernel's xfrm layer does not know.
- ENOENT on adding an SA: the crypto API cannot build the transform (module missing).
- EEXIST: an SA with that destination and SPI, or a policy with that selector and
  direction, is already installed.
- EINVAL: a key of the wrong length, a truncation the algorithm cannot give.
- ESRCH (SA) / ENOENT (policy) on removal: already gone (remove() ignores both).
"""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Protocol

from . import xfrm
from .sa import Direction, Policy, SaSet, SecurityAssociation

__all__ = [
    "NO_CAP_NET_ADMIN",
    "NO_ESP",
    "Kernel",
    "MemoryKernel",
    "NetlinkKernel",
    "XfrmError",
    "check_support",
]

NO_CAP_NET_ADMIN = "CAP_NET_ADMIN is missing"
NO_ESP = "the kernel has no ESP (esp4 / CONFIG_INET_ESP)"
NO_ESP6 = "the kernel has no ESP for IPv6 (esp6 / CONFIG_INET6_ESP)"
NO_XFRM_USER = "the kernel has no NETLINK_XFRM (CONFIG_XFRM_USER)"
CAP_NET_ADMIN = 12  # bit of CapEff (linux/capability.h)
NETLINK_XFRM = 6
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10  # acks without the request's payload
NETLINK_EXT_ACK = 11  # acks with the kernel's error text
TIMEOUT = 5.0  # seconds to wait for an ack: the kernel answers at once or never
RECV_BYTES = 1 << 16  # a dump datagram is at most 32 KiB
PROBE_SPI = 0xFFFFFFF0  # check_support()'s throwaway SA, far from allocated SPIs
GONE = frozenset({errno.ENOENT, errno.ESRCH})


class XfrmError(OSError):
    """The kernel refused (or never answered) one request: ``errno``, the ``operation``
    we asked for, what that errno means here and the kernel's own text if it gave one."""

    def __init__(self, code: int, operation: str, kernel_text: str = "",
                 meaning: str = "") -> None:
        text = f"{operation}: {os.strerror(code)}"
        if meaning:
            text += f" ({meaning})"
        if kernel_text:
            text += f" [kernel: {kernel_text}]"
        super().__init__(code, text)
        self.operation = operation
        self.kernel_text = kernel_text
        self.meaning = meaning


def _meaning(code: int, *, adding_sa: bool = False, ipv6: bool = False) -> str:
    if code == errno.EPERM:
        return NO_CAP_NET_ADMIN
    if code == errno.EEXIST:
        return "already installed"
    if adding_sa and code == errno.EPROTONOSUPPORT:
        return NO_ESP6 if ipv6 else NO_ESP
    if adding_sa and code == errno.ENOSYS:
        return "the kernel does not know this algorithm"
    if adding_sa and code == errno.ENOENT:
        return "the kernel crypto API lacks this transform"
    if code == errno.EINVAL:
        return "the kernel rejected a field (key length, truncation, selector)"
    return ""


def _is_ipv6(host: str) -> bool:
    return xfrm.family_of(host) == xfrm.AF_INET6


def _sa_text(sa: SecurityAssociation) -> str:
    return f"SA {sa.src}:{sa.sport} -> {sa.dst}:{sa.dport} spi 0x{sa.spi:08x}"


def _policy_text(policy: Policy) -> str:
    return (f"policy {policy.direction.name.lower()} {policy.src}:{policy.sport} -> "
            f"{policy.dst}:{policy.dport} spi 0x{policy.spi:08x}")


class Kernel(Protocol):
    """Installs and removes SA sets (TS 33.203 §7.1)."""

    def add(self, sa_set: SaSet) -> None:
        """All SAs, then all policies; on any failure undoes what it added and raises
        XfrmError."""

    def remove(self, sa_set: SaSet) -> None:
        """Policies, then SAs; what is already gone is fine. Tries everything, then raises
        the first other XfrmError."""


class NetlinkKernel:
    """The kernel's SAD and SPD over a blocking NETLINK_XFRM socket; every request is
    acknowledged (NLM_F_ACK) before the next goes out."""

    def __init__(self) -> None:
        import socket  # here, not at the top: importing this module must stay sans-I/O

        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM)
        except OSError as exc:
            code = exc.errno or errno.EIO
            raise XfrmError(code, "open NETLINK_XFRM socket",
                            meaning=NO_XFRM_USER if code == errno.EPROTONOSUPPORT
                            else _meaning(code)) from exc
        try:
            sock.bind((0, 0))
            sock.settimeout(TIMEOUT)
            for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
                with suppress(OSError):  # older kernels: longer acks, no error text
                    sock.setsockopt(SOL_NETLINK, option, 1)
        except OSError as exc:
            sock.close()
            raise XfrmError(exc.errno or errno.EIO, "bind NETLINK_XFRM socket") from exc
        self._sock = sock
        self._seq = itertools.count(1)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> NetlinkKernel:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- requests --

    def _exchange(self, encode: Callable[[int], bytes], operation: str) -> list[xfrm.Message]:
        """Send ``encode(seq)``; the messages answering it up to and including the final
        ack or NLMSG_DONE (the last in the list)."""
        seq = next(self._seq)
        try:
            self._sock.send(encode(seq))
            answer: list[xfrm.Message] = []
            while True:
                for message in xfrm.parse(self._sock.recv(RECV_BYTES)):
                    if message.seq != seq:
                        continue  # a late answer to an earlier request
                    answer.append(message)
                    if message.type in (xfrm.NLMSG_ERROR, xfrm.NLMSG_DONE):
                        return answer
        except TimeoutError as exc:
            raise XfrmError(errno.ETIMEDOUT, operation, meaning="no answer from the kernel") \
                from exc
        except OSError as exc:
            raise XfrmError(exc.errno or errno.EIO, operation, meaning=_meaning(
                exc.errno or errno.EIO)) from exc

    def _request(self, encode: Callable[[int], bytes], operation: str, *,
                 adding_sa: bool = False, ipv6: bool = False) -> None:
        ack = xfrm.decode_ack(self._exchange(encode, operation)[-1])
        if ack.error:
            raise XfrmError(ack.error, operation, ack.text,
                            _meaning(ack.error, adding_sa=adding_sa, ipv6=ipv6))

    def _add_sa(self, sa: SecurityAssociation) -> None:
        self._request(partial(xfrm.new_sa, sa), f"add {_sa_text(sa)}", adding_sa=True,
                      ipv6=_is_ipv6(sa.dst))

    def _del_sa(self, sa: SecurityAssociation) -> None:
        self._request(partial(xfrm.del_sa, sa), f"delete {_sa_text(sa)}")

    def _add_policy(self, policy: Policy) -> None:
        self._request(partial(xfrm.new_policy, policy), f"add {_policy_text(policy)}")

    def _del_policy(self, policy: Policy) -> None:
        self._request(partial(xfrm.del_policy, policy), f"delete {_policy_text(policy)}")

    def _dump(self, encode: Callable[[int], bytes], operation: str) -> list[xfrm.Message]:
        answer = self._exchange(encode, operation)
        ack = xfrm.decode_ack(answer[-1])
        if ack.error:
            raise XfrmError(ack.error, operation, ack.text, _meaning(ack.error))
        return answer[:-1]

    # -- the Kernel protocol --

    def add(self, sa_set: SaSet) -> None:
        undo: list[Callable[[], None]] = []
        try:
            for sa in sa_set.sas:
                self._add_sa(sa)
                undo.append(partial(self._del_sa, sa))
            for policy in sa_set.policies:
                self._add_policy(policy)
                undo.append(partial(self._del_policy, policy))
        except BaseException:  # all or nothing, even when interrupted
            for delete in reversed(undo):
                with suppress(XfrmError):  # the original error is what the caller needs
                    delete()
            raise

    def remove(self, sa_set: SaSet) -> None:
        first: XfrmError | None = None
        steps = [partial(self._del_policy, p) for p in sa_set.policies]
        steps += [partial(self._del_sa, sa) for sa in sa_set.sas]
        for delete in steps:
            try:
                delete()
            except XfrmError as exc:
                if exc.errno not in GONE and first is None:
                    first = exc
        if first is not None:
            raise first

    # -- listing --

    def dump_sas(self) -> list[xfrm.SaInfo]:
        """Every SA in the kernel (ours and anyone's)."""
        return [xfrm.decode_sa(m) for m in self._dump(xfrm.dump_sas, "dump SAs")
                if m.type == xfrm.XFRM_MSG_NEWSA]

    def dump_policies(self) -> list[xfrm.PolicyInfo]:
        """Every policy in the kernel (ours and anyone's)."""
        return [xfrm.decode_policy(m) for m in self._dump(xfrm.dump_policies, "dump policies")
                if m.type == xfrm.XFRM_MSG_NEWPOLICY]

    def count(self) -> tuple[int, int]:
        """(SAs, policies) in the kernel."""
        return len(self.dump_sas()), len(self.dump_policies())


def _policy_key(policy: Policy) -> tuple[str, str, int, int, Direction]:
    return policy.src, policy.dst, policy.sport, policy.dport, policy.direction


@dataclass
class MemoryKernel:
    """A kernel for tests: records what is installed, refuses duplicates as the real one
    does (EEXIST: same destination and SPI, or same selector and direction), and makes the
    next add() or remove() fail with ``fail_next`` (changing nothing) when it is set."""

    sas: set[SecurityAssociation] = field(default_factory=set)
    policies: set[Policy] = field(default_factory=set)
    fail_next: OSError | None = None

    def _failure(self, operation: str) -> None:
        failure, self.fail_next = self.fail_next, None
        if isinstance(failure, XfrmError):
            raise failure
        if failure is not None:
            raise XfrmError(failure.errno or errno.EIO, operation, str(failure))

    def add(self, sa_set: SaSet) -> None:
        self._failure("add SA set")
        sa_ids = {(sa.dst, sa.spi) for sa in self.sas}
        policy_ids = {_policy_key(p) for p in self.policies}
        for sa in sa_set.sas:
            if (sa.dst, sa.spi) in sa_ids:
                raise XfrmError(errno.EEXIST, f"add {_sa_text(sa)}", meaning="already installed")
            sa_ids.add((sa.dst, sa.spi))
        for policy in sa_set.policies:
            if _policy_key(policy) in policy_ids:
                raise XfrmError(errno.EEXIST, f"add {_policy_text(policy)}",
                                meaning="already installed")
            policy_ids.add(_policy_key(policy))
        self.sas.update(sa_set.sas)
        self.policies.update(sa_set.policies)

    def remove(self, sa_set: SaSet) -> None:
        self._failure("remove SA set")
        self.policies.difference_update(sa_set.policies)
        self.sas.difference_update(sa_set.sas)

    def count(self) -> tuple[int, int]:
        return len(self.sas), len(self.policies)


def _has_cap_net_admin(status: Path) -> bool:
    try:
        text = status.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    return False


def _probe_sa() -> SecurityAssociation:
    # A distinct SPI per process, so two checks at once do not collide.
    return SecurityAssociation(
        src="127.0.0.1", dst="127.0.0.1", sport=0, dport=0,
        spi=PROBE_SPI + os.getpid() % 15, auth="hmac(sha1)", auth_key=bytes(20),
        auth_trunc_bits=96, enc="cbc(aes)", enc_key=bytes(16))


def check_support(status: Path = Path("/proc/self/status")) -> str | None:
    """None if IPsec SAs can be installed here, else what is missing: NO_CAP_NET_ADMIN,
    NO_ESP or another reason, found by adding and deleting a throwaway SA."""
    if not _has_cap_net_admin(status):
        return NO_CAP_NET_ADMIN
    try:
        kernel = NetlinkKernel()
    except XfrmError as exc:
        return exc.meaning or str(exc)
    probe = SaSet(sas=(_probe_sa(),), policies=())
    with kernel:
        try:
            kernel.add(probe)
        except XfrmError as exc:
            if exc.errno == errno.EEXIST:
                return None  # another check's SA: ESP works
            if exc.errno in (errno.EPROTONOSUPPORT, errno.EPERM):
                return exc.meaning
            return f"a test SA was refused: {exc}"
        try:
            kernel.remove(probe)
        except XfrmError as exc:
            return f"a test SA could not be removed: {exc}"
    return None
