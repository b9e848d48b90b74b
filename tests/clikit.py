"""Run the real `qabot` CLI in another process, as a user or an admin would from a terminal.

The one place the tests start the CLI: `ENV` is the environment it runs in (offline, no QABOT_* or
QT_* setting leaking in from the caller, the project on PYTHONPATH); `qabot` runs the installed
script, or, with `probe=True`, tests/qabot_probe.py (the same CLI with the hash encoder and
instrumented moments); `admin_qabot` runs the script with the hash encoder (QABOT_ENCODER=hash), so a
build takes about a second, for the tests of what one process's `qabot index` does to another's
index and engine (their own engine must use the hash encoder too: its name is in the manifest).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PY = sys.executable
QABOT = str(Path(PY).with_name("qabot"))
PROBE = str(Path(__file__).with_name("qabot_probe.py"))
CLI_TIMEOUT_S = 600
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("QABOT_", "QT_"))}
ENV.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(ROOT))


def qabot(
    *args: str,
    stdin: str | None = None,
    timeout: float = CLI_TIMEOUT_S,
    probe: bool = False,
    cwd: Path = ROOT,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """`qabot ARGS` in `cwd`; `probe` runs tests/qabot_probe.py with the hash encoder instead."""
    run_env = dict(ENV, **(env or {}))
    argv = [QABOT, *args]
    if probe:
        run_env["QT_ENCODER"] = "hash"
        argv = [PY, PROBE, *args]
    return subprocess.run(argv, cwd=cwd, env=run_env, input=stdin, capture_output=True, text=True, timeout=timeout)


def admin_qabot(root: Path, *args: str, sources: str | None = None) -> subprocess.CompletedProcess:
    """`qabot ARGS` in the project root `root` with the hash encoder (`sources` sets QABOT_SOURCES)."""
    return qabot(*args, cwd=root, env={"QABOT_ENCODER": "hash", **({"QABOT_SOURCES": sources} if sources else {})})
