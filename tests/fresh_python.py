"""Run code in a fresh interpreter that imports this checkout (imported by test modules; not a
test): what a module imports at start-up can only be seen in a process that imported nothing
before it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, timeout: float = 120) -> str:
    """Run ``code`` with ``python -c`` on this checkout; its stdout (a failure shows stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
