"""One boot of the VM and what the IPsec tests need of it: ESP SAs with the kernel
algorithm names of TS 33.203 Annex I, netem on lo, the repository's venv, network
namespaces (plain and through tests/vm/netns.py), and the command's exit code and output
coming back."""

from __future__ import annotations

import pytest

from tests.vm.conftest import Booted, boot_once
from tests.vm.vm import REPO

pytestmark = pytest.mark.vm

TIMEOUT = 180.0  # seconds for the whole boot; it takes ~10 s on an idle 2-core host
FAILING_EXIT = 7

K16 = "0x" + bytes(range(16)).hex()
K20 = K16 + "00000000"  # hmac-sha-1-96: IK || 4 zero bytes
K24 = K16 + K16[2:18]  # des-ede3-cbc: CK1 || CK2 || CK1

# Each check's output goes to /vmout/<name>.out and its status to /vmout/<name>.rc.
NETNS_HELPER = """
import socket, sys, tempfile
from pathlib import Path
from tests.docker.netns import leftovers
from tests.vm.netns import bridged

SERVER = '''
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.99.0.3", 5000))
data, peer = s.recvfrom(100)
s.sendto(data + b" from " + peer[0].encode(), peer)
'''
CLIENT = '''
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.99.0.12", 0))
s.settimeout(0.3)
for _ in range(100):
    s.sendto(b"echo", ("10.99.0.3", 5000))
    try:
        print(s.recv(100).decode())
        break
    except TimeoutError:
        pass
'''
with tempfile.TemporaryDirectory() as work:
    with bridged({"a": ["10.99.0.2", "10.99.0.12"], "b": ["10.99.0.3"]},
                 subnet="10.99.0.0/24", workdir=Path(work)) as lab:
        token = lab.topology.token
        server = lab.popen("b", "server", [sys.executable, "-c", SERVER])
        print(lab.run("a", [sys.executable, "-c", CLIENT], timeout=60).stdout.strip())
        print("server exit", server.proc.wait(60))
        print(lab.run("a", ["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout)
    print("leftovers", leftovers(token))
"""

GUEST = f"""
check() {{ name=$1; shift; "$@" >/vmout/$name.out 2>&1; echo $? >/vmout/$name.rc; }}
esp() {{
    sa="ip xfrm state add src 127.0.0.1 dst 127.0.0.1 proto esp spi"
    $sa 0x1001 mode transport auth-trunc 'hmac(md5)' {K16} 96 enc 'cbc(aes)' {K16} &&
    $sa 0x1002 mode transport auth-trunc 'hmac(sha1)' {K20} 96 enc 'cbc(des3_ede)' {K24} &&
    $sa 0x1003 mode transport auth-trunc 'hmac(sha1)' {K20} 96 enc 'ecb(cipher_null)' '' &&
    ip xfrm state list && ip xfrm state flush && echo "after flush: $(ip xfrm state | wc -l)"
}}
netem() {{
    tc qdisc add dev lo root netem delay 1ms && tc qdisc show dev lo &&
    tc qdisc del dev lo root
}}
venv() {{ python -c 'import ims_core, sys; print(sys.executable, ims_core.__file__)'; }}
netns() {{
    ip netns add x && ip netns exec x ip link set lo up && ip netns exec x ip -o link show lo &&
    ip netns del x
}}
check esp esp
check netem netem
check venv venv
check netns netns
check helper python - <<'EOF'
{NETNS_HELPER}
EOF
echo to-stdout; echo to-stderr >&2
exit {FAILING_EXIT}
"""


def check(boot: Booted, name: str) -> str:
    """Check ``name``'s output, failing the test unless it exited 0."""
    rc_file, out_file = boot.out / f"{name}.rc", boot.out / f"{name}.out"
    rc = rc_file.read_text().strip() if rc_file.exists() else "missing"
    output = out_file.read_text() if out_file.exists() else ""
    assert rc == "0", f"{name}: exit {rc}\n{output}\n{boot.result.report()}"
    return output


@pytest.fixture(scope="module")
def boot(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Booted:
    return boot_once(request, tmp_path_factory, GUEST, timeout=TIMEOUT, label="VM smoke")


def test_command_exit_code_and_output_come_back(boot: Booted) -> None:
    result = boot.result
    assert not result.timed_out, result.report()
    assert result.returncode == FAILING_EXIT, result.report()
    assert result.output.splitlines()[-2:] == ["to-stdout", "to-stderr"], result.report()
    assert result.boot_seconds is not None and result.boot_seconds > 0, result.report()
    assert result.seconds < TIMEOUT


def test_esp_states_with_the_annex_i_algorithms(boot: Booted) -> None:
    output = check(boot, "esp")
    for spi, auth, enc in (("0x00001001", "hmac(md5)", "cbc(aes)"),
                           ("0x00001002", "hmac(sha1)", "cbc(des3_ede)"),
                           ("0x00001003", "hmac(sha1)", "ecb(cipher_null)")):
        parts = output.split(f"spi {spi}", 1)
        assert len(parts) == 2, output
        state = parts[1].split("\nsrc ", 1)[0]  # up to the next state
        assert f"auth-trunc {auth}" in state and f"enc {enc}" in state, output
    assert "after flush: 0" in output, output


def test_netem_on_loopback(boot: Booted) -> None:
    output = check(boot, "netem")
    assert "qdisc netem" in output and "delay 1ms" in output, output


def test_the_repository_venv_imports_ims_core(boot: Booted) -> None:
    executable, module = check(boot, "venv").split()
    assert executable == str(REPO / ".venv" / "bin" / "python")
    assert module == str(REPO / "ims_core" / "__init__.py")


def test_network_namespaces(boot: Booted) -> None:
    output = check(boot, "netns")
    assert "lo:" in output and "UP" in output, output


def test_bridged_namespaces_helper(boot: Booted) -> None:
    output = check(boot, "helper")
    assert "echo from 10.99.0.12" in output, output  # a second address of namespace a
    assert "server exit 0" in output, output
    assert "inet 10.99.0.2/24" in output and "inet 10.99.0.12/24" in output, output
    assert "leftovers []" in output, output
