"""Registrations per second with IPsec sec-agree against without, measured in one run
inside a qemu VM whose kernel has ESP (this machine's has none): docker/compose.yaml's
topology as network namespaces with the P-CSCF's IPsec on, then `--count` initial IMS-AKA
registrations of our UE without IPsec and `--count` with it (each negotiating, installing
and removing its SA set, the P-CSCF setting up its four SAs per registration), `--
concurrency` at a time (tests/vm/ipsec_bench.py). Software emulation makes absolute
figures meaningless; the ratio is the figure.

    python bench/bench_ipsec.py [--count 60] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.vm.vm import run_in_vm, vm_unavailable


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60, help="registrations per mode")
    parser.add_argument("--repeat", type=int, default=1, help="VM runs")
    args = parser.parse_args()
    reason = vm_unavailable()
    if reason is not None:
        print(f"skipped: the qemu VM cannot run here: {reason}")
        return 0
    ratios = []
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="ipsec-bench-") as tmp:
            out = Path(tmp)
            result = run_in_vm("python -m tests.vm.ipsec_lab --out /vmout "
                               "--skip pairs,call,rereg,netdereg "
                               f"--bench {args.count}", timeout=900, out_dir=out)
            report = out / "ipsec.json"
            figures = json.loads(report.read_text())["figures"] if report.exists() else {}
            if result.returncode != 0 or "ratio" not in figures:
                print(result.report())
                return 1
        ratios.append(figures["ratio"])
        print(f"run {run + 1}: {args.count} registrations each, without IPsec "
              f"{figures['plain_rate']:.2f}/s, with IPsec {figures['ipsec_rate']:.2f}/s "
              f"(in the VM) -> ratio with/without {figures['ratio']:.2f}", flush=True)
    print(f"IPsec registration rate / plain: {', '.join(f'{r:.2f}' for r in ratios)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
