"""Run every ``bench/bench_*.py`` in turn with this interpreter (``make bench``), some
more than once (``VARIANTS``: registrations over UDP and over TCP).

Exits non-zero if any benchmark does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# script → the argument lists it runs with (default: once, without arguments)
VARIANTS: dict[str, list[list[str]]] = {
    "bench_registration.py": [["--transport", "u1"], ["--transport", "t1"]],
}


def main() -> int:
    here = Path(__file__).resolve().parent
    build = subprocess.run([sys.executable, "-c", "import ims_core; print(ims_core.BUILD)"],
                           capture_output=True, text=True, check=False).stdout.strip()
    print(f"=== build: {build} (`make compiled` / `make pure`; ims_core/native.py)\n",
          flush=True)
    failed: list[str] = []
    for script in sorted(here.glob("bench_*.py")):
        for args in VARIANTS.get(script.name, [[]]):
            name = " ".join([script.name, *args])
            print(f"=== {name}", flush=True)
            if subprocess.run([sys.executable, str(script), *args],
                              check=False).returncode != 0:
                failed.append(name)
            print(flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
