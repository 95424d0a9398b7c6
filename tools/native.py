"""`python -m tools.native build`: compile the monitoring's functional core with mypyc.

The modules of `services.monitoring.native.COMPILED` (the rules, the engine, the stored state) are
compiled into `--out` (default `.cache/native`), never beside the sources, with a stamp of the
sources they were built from. A worker uses them with `PANTAU_MONITORING_NATIVE=<that directory>`
(see `services/monitoring/native.py`). Needs a C compiler and Python's headers (both on the
machines `make setup` prepares); about half a minute on two cores. `check` says whether the build
there is current.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from services.monitoring import native
from tools.stack import REPO_ROOT

DEFAULT_OUT = native.DEFAULT_BUILD
log = logging.getLogger("pantau.native")


def build(out: Path = DEFAULT_OUT, *, force: bool = False) -> Path:
    """Compile into `out` unless a current build is there already; returns `out`."""
    if not force and native.stale_because(out) is None:
        log.info("native: the build in %s is current; nothing to do", out)
        return out
    # Imported here: mypyc and setuptools are build tools, not something a worker needs.
    from mypyc.build import mypycify
    from setuptools import Distribution

    began = time.perf_counter()
    log.info("native: compiling %d modules with mypyc (about half a minute)...", len(native.COMPILED))
    with tempfile.TemporaryDirectory(prefix="pantau-native-") as scratch:
        lib = Path(scratch) / "lib"
        cwd = os.getcwd()
        os.chdir(REPO_ROOT)  # mypyc names modules by their paths from here, and reads pyproject's mypy settings
        try:
            extensions = mypycify(list(native.COMPILED), opt_level="3", target_dir=str(Path(scratch) / "c"))
            distribution = Distribution({"name": "pantau-native", "ext_modules": extensions, "py_modules": []})
            command = distribution.get_command_obj("build_ext")
            command.build_lib = str(lib)
            command.build_temp = str(Path(scratch) / "temp")
            command.parallel = os.cpu_count() or 1
            distribution.run_command("build_ext")
        finally:
            os.chdir(cwd)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(lib, out)
    stamp = {"sources": native.sources_digest(), "modules": [native.module_name(path) for path in native.COMPILED]}
    (out / native.STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
    log.info("native: built %s in %.0f s", out, time.perf_counter() - began)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.native", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("build", "check"), help="build (if not current) or check the build")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"build directory (default {DEFAULT_OUT})")
    parser.add_argument("--force", action="store_true", help="build even when the build there is current")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.action == "check":
        reason = native.stale_because(args.out)
        print("current" if reason is None else reason)
        return 0 if reason is None else 1
    build(args.out, force=args.force)
    print(f"built: PANTAU_MONITORING_NATIVE={args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
