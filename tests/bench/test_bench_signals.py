"""`spikeenergy bench` stopped by SIGTERM / Ctrl-C (SIGINT) mid-sweep, end to end: spawn
workers, real signals. The sweep stops its workers, leaves no temporary files and a current
results.csv, prints one line, and the same command then finishes the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_bench_faults import child_pids

from spikeenergy.bench import ResultsStore

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

SUITE = """
[suite]
name = "sig"
seeds = 2
lambdas = [0.0, 0.1, 1.0]

[train]
epochs = 1

[[datasets]]
name = "digits-dvs"
label = "a"
options = { limit = 20 }

[[models]]
family = "snn-mlp"
hidden = [8]

[[models]]
family = "mlp"
hidden = [8]
"""

# the bench command with a fake run function (0.3 s per run) instead of training
CLI = """
import functools, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in an interactive shell
sys.path.insert(0, {here!r})
import bench_fakes
import spikeenergy.bench as bench_pkg  # the command imports run_sweep from it when it runs
from spikeenergy.bench import run_sweep
if __name__ == "__main__":
    bench_pkg.run_sweep = functools.partial(run_sweep, run_fn=bench_fakes.slow_fake_run)
    from spikeenergy.cli import main
    sys.exit(main(sys.argv[1:]))
"""


def _start(tmp_path: Path, out: Path) -> subprocess.Popen[bytes]:
    (tmp_path / "sig.toml").write_text(SUITE)
    script = tmp_path / "cli.py"
    script.write_text(CLI.format(here=str(HERE)))
    cmd = [
        sys.executable,
        str(script),
        "bench",
        str(tmp_path / "sig.toml"),
        "--out",
        str(out),
        "--workers",
        "2",
        "--device",
        "cpu",
        "--no-progress",
        "--no-report",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")]
)
def test_signal_stops_workers_cleans_up_and_prints_one_line(
    tmp_path: Path, sig: int, code: int, name: str
) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    out = tmp_path / "out"
    store = ResultsStore(out)
    proc = _start(tmp_path, out)
    deadline = time.time() + 120
    while len(store.run_ids()) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
    workers = child_pids(proc.pid)
    assert len(workers) >= 2  # the spawn workers (and multiprocessing's resource tracker)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == code, text
    hint = "finished runs are stored; rerun the same command to resume"
    assert text == f"spikeenergy bench: stopped by {name}; {hint}\n"  # one line, no traceback
    deadline = time.time() + 10
    while time.time() < deadline and [p for p in workers if Path(f"/proc/{p}").exists()]:
        time.sleep(0.1)
    left = [p for p in workers if Path(f"/proc/{p}").exists()]
    cmds = [Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ") for p in left]
    assert left == [], cmds  # no worker left running
    assert not list(out.rglob(".*.tmp"))
    kept = store.run_ids()
    assert 2 <= len(kept) < 12
    assert sorted(pd.read_csv(out / "results.csv")["run_id"]) == sorted(kept)
    # the same command finishes the rest
    proc = _start(tmp_path, out)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert len(store.run_ids()) == 12  # 2 models x 3 lambdas x 2 seeds, one record each
    assert all(store.read(r).status == "ok" for r in store.run_ids())
