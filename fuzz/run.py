"""Run one fuzz target with atheris (libFuzzer) for N executions and print a summary.

    python fuzz/run.py TARGET --runs N [--corpus DIR] [--out DIR] [--max-len N]

Seeds come from tests/data/fuzz/TARGET/ (read only), tokens from fuzz/dicts/TARGET.dict;
new inputs go to the working corpus (--corpus, default a directory under --out), crashes
to --out/crashes/. libFuzzer stops at
the first crash: fix it, keep the input under tests/data/fuzz/TARGET/, run again.
The summary gives executions, exec/s, libFuzzer's coverage (`cov:` edges, `ft:` features)
and the crash files.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "tests" / "data" / "fuzz"
DICTS = Path(__file__).resolve().parent / "dicts"  # libFuzzer dictionaries (tokens)
_STATUS_RE = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+).*?exec/s: (\d+)")
_EXECUTED_RE = re.compile(r"stat::number_of_executed_units: (\d+)")


def _worker(target_name: str, libfuzzer_args: list[str]) -> None:
    """Inside the child: instrument our packages, then hand over to libFuzzer."""
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["ims_core", "hss", "fuzz"]):
        from fuzz.targets import TARGETS, run_one
    target = TARGETS[target_name]

    def one_input(data: bytes) -> None:
        run_one(target, data)

    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--worker"]:
        _worker(args[1], args[2:])
        return 0
    sys.path.insert(0, str(ROOT))
    from fuzz.targets import TARGETS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("target", choices=sorted(TARGETS))
    p.add_argument("--runs", type=int, default=100_000)
    p.add_argument("--corpus", type=Path, help="working corpus (new inputs are written here)")
    p.add_argument("--out", type=Path, help="crashes and logs (default: a temporary directory)")
    p.add_argument("--max-len", type=int, default=4096)
    p.add_argument("--timeout", type=int, default=10, help="seconds per input (a hang)")
    p.add_argument("--rss-limit-mb", type=int, default=1024)
    opts = p.parse_args(args)
    out = opts.out or Path(tempfile.mkdtemp(prefix=f"ims-fuzz-{opts.target}-"))
    corpus = opts.corpus or out / "corpus"
    crashes = out / "crashes"
    for d in (out, corpus, crashes):
        d.mkdir(parents=True, exist_ok=True)
    seeds = SEEDS / opts.target
    lib_args = [
        f"-runs={opts.runs}", f"-max_len={opts.max_len}", f"-timeout={opts.timeout}",
        f"-rss_limit_mb={opts.rss_limit_mb}", "-print_final_stats=1",
        f"-artifact_prefix={crashes}/", str(corpus),
    ]
    if seeds.is_dir():
        lib_args.append(str(seeds))
    tokens = DICTS / f"{opts.target}.dict"
    if tokens.is_file():
        lib_args.insert(0, f"-dict={tokens}")
    log = out / "fuzz.log"
    start = time.monotonic()
    with log.open("w") as fh:
        rc = subprocess.call(
            [sys.executable, str(Path(__file__).resolve()), "--worker", opts.target, *lib_args],
            stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "IMS_FUZZ_SCRATCH": str(out)},
        )
    elapsed = time.monotonic() - start
    text = log.read_text(errors="replace")
    status = _STATUS_RE.findall(text)
    executed = _EXECUTED_RE.search(text)
    runs = int(executed.group(1)) if executed else (int(status[-1][0]) if status else 0)
    cov, ft = (status[-1][1], status[-1][2]) if status else ("?", "?")
    found = sorted(crashes.iterdir())
    print(f"target: {opts.target}")
    print(f"executions: {runs}  seconds: {elapsed:.0f}  exec/s: {runs / max(elapsed, 1e-9):.0f}")
    print(f"coverage: cov: {cov} ft: {ft}")
    print(f"crashes: {len(found)}")
    for f in found:
        print(f"  {f}")
    print(f"exit: {rc}  log: {log}  corpus: {corpus}")
    return 0 if rc == 0 and not found else 1


if __name__ == "__main__":
    sys.exit(main())
