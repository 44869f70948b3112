"""One shell command in a throwaway qemu VM, for what this host's kernel cannot do (ESP
SAs, netem) or must not be changed for (xfrm state, qdiscs, namespaces).

The guest boots a Debian ``linux-image-*`` kernel of this machine under software
emulation (TCG: KVM is not relied on) with a tiny initramfs built here from
``busybox-static`` and the few modules needed to reach the host's root file system over
virtio-9p. That root is the guest's lower layer, read-only, under an overlay whose upper
layer is a tmpfs, so the guest may write anywhere (``/etc/netns``, ``/root``) and nothing
reaches the host; ``/tmp``, ``/run`` and ``/var/tmp`` are fresh tmpfs. Kernel modules load
on demand from the host's ``/lib/modules``. A second share, read-write, is ``/vmout``
(the caller's ``out_dir``); a third, private one carries the command in and its output
and exit code out.

Everything is time-bounded: the guest stops the command (exit 124, ``timeout``'s) a
few seconds before the host's deadline and powers off; the host kills qemu by its PID at
``timeout`` in any case.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import os
import platform
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REPO", "VmError", "VmResult", "guest_kernel", "run_in_vm", "vm_unavailable"]

REPO = Path(__file__).resolve().parents[2]
QEMU = "qemu-system-x86_64"
BUSYBOX = Path("/bin/busybox")
# Modules the initramfs loads itself (with their dependencies, in order): the virtio PCI
# transport, 9p over virtio, and overlayfs for the writable layer over the host's root.
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
GUEST_MARGIN = 5.0  # the guest ends the command this long before the host's deadline
CONSOLE_TAIL = 4000  # characters of the serial console kept in error messages
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INITRAMFS_FORMAT = 1  # bump when the initramfs layout changes (invalidates the cache)

# /init of the initramfs (busybox sh, PID 1). Shares: hostroot (the host's "/", read-
# only), vmout (read-write, /vmout) and vmctl (read-write: boot.sh, command, results).
INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "ims-vm: init: $*" >/dev/console; sync; echo o >/proc/sysrq-trigger; sleep 30; }
mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t devtmpfs dev /dev \
    || fail "proc/sys/dev"
for m in /modules/*.ko; do insmod "$m" || fail "insmod $m"; done
p9="trans=virtio,version=9p2000.L,msize=262144"
mkdir -p /lower /layer /newroot
mount -t 9p -o "$p9,ro,cache=loose" hostroot /lower || fail "9p hostroot"
mount -t tmpfs -o mode=0755 layer /layer && mkdir /layer/upper /layer/work
mount -t overlay -o lowerdir=/lower,upperdir=/layer/upper,workdir=/layer/work \
    overlay /newroot || fail "overlay"
R=/newroot
mount -t proc proc $R/proc && mount -t sysfs sysfs $R/sys && mount -t devtmpfs dev $R/dev \
    || fail "proc/sys/dev in the new root"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts; mount -t tmpfs -o mode=1777 shm $R/dev/shm
for d in tmp var/tmp; do mount -t tmpfs -o mode=1777 tmp $R/$d || fail "tmpfs /$d"; done
mount -t tmpfs -o mode=0755 run $R/run || fail "tmpfs /run"
mkdir -p $R/vmout $R/run/vmctl
mount -t 9p -o "$p9" vmout $R/vmout || fail "9p vmout"
mount -t 9p -o "$p9" vmctl $R/run/vmctl || fail "9p vmctl"
chroot $R /bin/sh /run/vmctl/boot.sh
sync
echo o >/proc/sysrq-trigger
sleep 30
"""

# The kernel's module requests (e.g. "xfrm-type-2-50" for esp4) run /sbin/modprobe in
# PID 1's root, the initramfs: hand them to the host's modprobe in the new root.
MODPROBE = """#!/bin/busybox sh
exec /bin/busybox chroot /newroot /sbin/modprobe "$@"
"""

# Run in the new root by /init: environment, loopback, the command under a time limit.
# The limit is the host's deadline (epoch seconds: qemu's RTC starts at the host's time);
# the guest's uptime bounds it too, should its clock be off.
BOOT = """#!/bin/sh
export PATH={path} HOME=/root LANG=C.UTF-8 VIRTUAL_ENV={venv}
unset PYTHONPATH PYTHONHOME
# The repository has a share of its own, mounted where it is on the host: it may live
# under /tmp or /run, which are fresh tmpfs here.
mkdir -p {cwd} && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose \
    repo {cwd} || {{ echo "ims-vm: cannot mount the repository at {cwd}" \
    >/run/vmctl/output; exit 1; }}
cd {cwd} || {{ echo "ims-vm: no directory {cwd}" >/run/vmctl/output; exit 1; }}
hostname ims-vm
ip link set lo up
up=$(cut -d' ' -f1 /proc/uptime)
echo "$up" >/run/vmctl/boot_seconds
left=$(( {deadline} - $(date +%s) ))
by_uptime=$(( {budget} - ${{up%.*}} ))
[ "$by_uptime" -lt "$left" ] && left=$by_uptime
[ "$left" -gt 1 ] || left=1
timeout -k 2 "$left" /bin/sh -c "$(cat /run/vmctl/command)" \\
    </dev/null >/run/vmctl/output 2>&1
echo $? >/run/vmctl/returncode.part && mv /run/vmctl/returncode.part /run/vmctl/returncode
sync
"""


class VmError(RuntimeError):
    """The VM could not be started (vm_unavailable()'s reason, or qemu failed)."""


@dataclass
class VmResult:
    returncode: int  # the command's; -1 when the guest never reported one (killed, crashed)
    output: str  # its stdout and stderr, interleaved
    seconds: float  # from starting qemu until it exited or was killed
    console: str  # the serial console (kernel messages, init errors)
    boot_seconds: float | None = None  # guest uptime when the command started
    timed_out: bool = False  # the host killed qemu at the deadline

    def report(self, tail: int = CONSOLE_TAIL) -> str:
        """For assertion messages: exit code, output and the console's tail."""
        killed = " (VM killed at the deadline)" if self.timed_out else ""
        return (f"exit {self.returncode}{killed} after {self.seconds:.1f}s\n"
                f"--- output ---\n{self.output[-tail:]}\n"
                f"--- console (tail) ---\n{self.console[-tail:]}")


# -- what is needed ------------------------------------------------------------------------


@dataclass(frozen=True)
class GuestKernel:
    version: str
    image: Path
    modules: Path


def _version_key(version: str) -> list[tuple[int, object]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-+~]", version)]


def guest_kernel() -> GuestKernel | None:
    """The running kernel's image if /boot has it with its modules, else the newest
    installed ``vmlinuz-*-amd64`` that has its ``/lib/modules``."""
    found = []
    for image in Path("/boot").glob("vmlinuz-*"):
        version = image.name.removeprefix("vmlinuz-")
        modules = Path("/lib/modules") / version
        if (modules / "modules.dep").is_file():
            found.append(GuestKernel(version, image, modules))
    running = [k for k in found if k.version == platform.release()]
    if running:
        return running[0]
    amd64 = [k for k in found if k.version.endswith("-amd64")]
    return max(amd64, key=lambda k: _version_key(k.version)) if amd64 else None


def _is_static(path: Path) -> bool:
    """An ELF executable without a program interpreter (PT_INTERP) runs without libc."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if data[:4] != b"\x7fELF" or data[4] != 2:  # ELF64 only (amd64)
        return False
    phoff = int.from_bytes(data[0x20:0x28], "little")
    phentsize = int.from_bytes(data[0x36:0x38], "little")
    phnum = int.from_bytes(data[0x38:0x3A], "little")
    for i in range(phnum):
        at = phoff + i * phentsize
        if int.from_bytes(data[at:at + 4], "little") == 3:  # PT_INTERP
            return False
    return True


def vm_unavailable() -> str | None:
    """Why the VM cannot run here, or None."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return "the VM harness needs Linux on x86_64"
    if shutil.which(QEMU) is None:
        return f"{QEMU} is not installed (Debian: qemu-system-x86)"
    if not BUSYBOX.is_file() or not _is_static(BUSYBOX):
        return f"no static {BUSYBOX} (Debian: busybox-static)"
    if _modprobe() is None:
        return "modprobe (kmod) is not installed"
    kernel = guest_kernel()
    if kernel is None:
        return "no /boot/vmlinuz-*-amd64 with its /lib/modules (Debian: linux-image-amd64)"
    if not os.access(kernel.image, os.R_OK):
        return f"{kernel.image} is not readable by this user"
    try:
        _boot_modules(kernel)
    except VmError as exc:
        return str(exc)
    return None


# -- the initramfs ------------------------------------------------------------------------


def _modprobe() -> str | None:
    """kmod's modprobe, also where a user's PATH lacks the sbin directories."""
    return shutil.which("modprobe", path=f"{os.environ.get('PATH', '')}:{BASE_PATH}")


def _boot_modules(kernel: GuestKernel) -> list[Path]:
    """The module files to insmod, dependencies first, each once."""
    paths: list[Path] = []
    for module in BOOT_MODULES:
        proc = subprocess.run([_modprobe() or "modprobe", "--show-depends", "-S",
                               kernel.version, module],
                              capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode != 0:
            raise VmError(f"module {module} of {kernel.version}: {proc.stderr.strip()}")
        for line in proc.stdout.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "insmod" and Path(words[1]) not in paths:
                paths.append(Path(words[1]))
    return paths


def _module_bytes(path: Path) -> bytes:
    """A module uncompressed (busybox's insmod takes plain .ko files)."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        return subprocess.run(["zstd", "-dcq", str(path)], capture_output=True, timeout=60,
                              check=True).stdout
    return data


def _cpio_entry(name: str, mode: int, data: bytes = b"", ino: int = 0,
                rdev: tuple[int, int] = (0, 0)) -> bytes:
    """One entry of a "newc" cpio archive, the format the kernel unpacks."""
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
    header = b"070701" + b"".join(b"%08X" % f for f in fields) + encoded
    header += b"\0" * (-len(header) % 4)
    return header + data + b"\0" * (-len(data) % 4)


def _initramfs(modules: Sequence[Path]) -> bytes:
    entries: list[tuple[str, int, bytes, tuple[int, int]]] = [
        *((d, stat.S_IFDIR | 0o755, b"", (0, 0))
          for d in ("bin", "sbin", "dev", "proc", "sys", "modules", "newroot")),
        ("dev/console", stat.S_IFCHR | 0o600, b"", (5, 1)),
        ("bin/busybox", stat.S_IFREG | 0o755, BUSYBOX.read_bytes(), (0, 0)),
        ("sbin/modprobe", stat.S_IFREG | 0o755, MODPROBE.encode(), (0, 0)),
        ("init", stat.S_IFREG | 0o755, INIT.encode(), (0, 0)),
    ]
    for i, module in enumerate(modules):
        name = module.name.split(".ko")[0]
        entries.append((f"modules/{i:02d}-{name}.ko", stat.S_IFREG | 0o644,
                        _module_bytes(module), (0, 0)))
    out = io.BytesIO()
    for ino, (name, mode, data, rdev) in enumerate(entries, 1):
        out.write(_cpio_entry(name, mode, data, ino, rdev))
    out.write(_cpio_entry("TRAILER!!!", 0))
    return gzip.compress(out.getvalue(), compresslevel=6, mtime=0)


def cache_dir(kernel: GuestKernel) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ims-core-vm" / kernel.version


def initramfs(kernel: GuestKernel) -> Path:
    """The initramfs for ``kernel``, built once per set of inputs (busybox, the modules,
    the scripts) into the user's cache."""
    modules = _boot_modules(kernel)
    digest = hashlib.sha256(f"{INITRAMFS_FORMAT}\n{INIT}\n{MODPROBE}".encode())
    for path in (BUSYBOX, *modules):
        st = path.stat()
        digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    directory = cache_dir(kernel)
    target = directory / f"initramfs-{digest.hexdigest()[:16]}.cpio.gz"
    if target.is_file():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("initramfs-*.cpio.gz"):
        old.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".initramfs-")
    with os.fdopen(fd, "wb") as out:
        out.write(_initramfs(modules))
    os.replace(tmp, target)  # atomic: a concurrent run sees the old file or the new one
    return target


# -- running ------------------------------------------------------------------------------


def _opt(value: str | Path) -> str:
    """A value inside a qemu option list (commas are doubled)."""
    return str(value).replace(",", ",,")


def qemu_argv(kernel: GuestKernel, initrd: Path, ctl: Path, out_dir: Path, *,
              memory_mb: int, cpus: int) -> list[str]:
    share = "local,security_model=none,multidevs=remap"
    return [
        QEMU, "-accel", "tcg", "-cpu", "max", "-m", str(memory_mb), "-smp", str(cpus),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-chardev", f"file,id=console,path={_opt(ctl / 'console.log')}",
        "-serial", "chardev:console",
        "-kernel", str(kernel.image), "-initrd", str(initrd),
        "-append", "console=ttyS0 quiet panic=-1 mitigations=off",
        "-virtfs", f"{share},path=/,mount_tag=hostroot,readonly=on",
        "-virtfs", f"{share},path={_opt(out_dir)},mount_tag=vmout",
        "-virtfs", f"{share},path={_opt(ctl)},mount_tag=vmctl",
        "-virtfs", f"{share},path={_opt(REPO)},mount_tag=repo,readonly=on",
    ]


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _budget(timeout: float) -> int:
    """Whole seconds of guest uptime the command must end by."""
    return max(1, int(timeout - GUEST_MARGIN))


def _write_control(ctl: Path, command: str, timeout: float) -> None:
    venv = REPO / ".venv"
    (ctl / "command").write_text(command)
    (ctl / "boot.sh").write_text(BOOT.format(
        path=shlex.quote(f"{venv / 'bin'}:{BASE_PATH}"), venv=shlex.quote(str(venv)),
        cwd=shlex.quote(str(REPO)), budget=_budget(timeout),
        deadline=int(time.time() + timeout - GUEST_MARGIN)))


def run_in_vm(command: str, *, timeout: float = 600, out_dir: Path | None = None,
              memory_mb: int = 1536, cpus: int = 2) -> VmResult:
    """``/bin/sh -c command`` as root in a fresh VM, in the repository's root directory
    with the venv's bin first on PATH, stdin /dev/null; ``out_dir`` (default: a temporary
    directory) is ``/vmout`` inside. Returns when the VM has powered off or was killed at
    ``timeout`` seconds (then ``returncode`` is -1 and ``timed_out`` is set); raises
    VmError when it cannot start. Boot to the command takes ~3 s of guest time plus
    ~3 s before the kernel runs; a command needing more than ``timeout - 5`` seconds
    gets exit code 124."""
    reason = vm_unavailable()
    if reason is not None:
        raise VmError(reason)
    kernel = guest_kernel()
    assert kernel is not None  # vm_unavailable() checked
    initrd = initramfs(kernel)
    with ExitStack() as stack:
        ctl = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ims-vm-ctl-")))
        if out_dir is None:
            out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ims-vm-out-")))
        else:
            out = out_dir.resolve()
            out.mkdir(parents=True, exist_ok=True)
        _write_control(ctl, command, timeout)
        argv = qemu_argv(kernel, initrd, ctl, out, memory_mb=memory_mb, cpus=cpus)
        begin = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
        except OSError as exc:
            raise VmError(f"{QEMU} did not start: {exc}") from exc
        timed_out = False
        try:
            qemu_out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.send_signal(signal.SIGKILL)  # by its PID; the guest state is disposable
            qemu_out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:  # interrupted (KeyboardInterrupt, pytest-timeout)
                proc.kill()
                proc.wait(30)
        seconds = time.monotonic() - begin
        console = _read(ctl / "console.log")
        messages = qemu_out.decode(errors="replace").strip()
        if messages:
            console += f"\n--- {QEMU} (exit {proc.returncode}) ---\n{messages}\n"
        code = _read(ctl / "returncode").strip()
        boot = _read(ctl / "boot_seconds").strip()
        return VmResult(
            returncode=int(code) if code.lstrip("-").isdigit() else -1,
            output=_read(ctl / "output"), seconds=seconds, console=console,
            boot_seconds=float(boot) if re.fullmatch(r"\d+(\.\d+)?", boot) else None,
            timed_out=timed_out)
