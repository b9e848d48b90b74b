"""Run the real `qabot` script as an admin would from a terminal: another process than the test's own.

Shared by the tests of what one process's `qabot index` does to another's index and engine. The hash
encoder (QABOT_ENCODER=hash) keeps each build to about a second; the test's own engine must use the
hash encoder too (its name is part of the index's manifest).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

QABOT = str(Path(sys.executable).with_name("qabot"))
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("QABOT_", "QT_"))}
ENV.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", QABOT_ENCODER="hash")
CLI_TIMEOUT_S = 300


def qabot(root: Path, *args: str, sources: str | None = None) -> subprocess.CompletedProcess:
    """`qabot ARGS` run in the project root `root` (hash encoder; `sources` sets QABOT_SOURCES)."""
    env = dict(ENV, **({"QABOT_SOURCES": sources} if sources else {}))
    return subprocess.run([QABOT, *args], cwd=root, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
