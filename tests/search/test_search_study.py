"""Search machinery on the synthetic problem: known front, resume after a kill, two workers."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from search_synthetic import known_front, synthetic_objective

from spikeenergy.bench.stats import pareto_mask
from spikeenergy.search import DominancePruning, make_storage, open_study, run_search
from spikeenergy.search.study import quiet_optuna

REPO = Path(__file__).resolve().parents[2]


def test_pareto_mask_hand_example():
    # (acc up, energy down): (0.9, 5) and (0.5, 1) are non-dominated; (0.6, 3) is dominated by
    # neither of them? (0.9, 5) has higher acc but more energy, (0.5, 1) less energy but lower
    # acc -> (0.6, 3) is non-dominated too; (0.5, 2) is dominated by (0.5, 1) (same acc, less E);
    # (0.4, 6) is dominated by everything.
    acc = [0.9, 0.5, 0.6, 0.5, 0.4]
    energy = [5.0, 1.0, 3.0, 2.0, 6.0]
    assert pareto_mask(energy, acc).tolist() == [True, True, True, False, False]


def test_quiet_optuna_restores_the_callers_verbosity():
    before = optuna.logging.get_verbosity()
    try:
        optuna.logging.set_verbosity(optuna.logging.DEBUG)
        with quiet_optuna():
            assert optuna.logging.get_verbosity() == optuna.logging.WARNING
        assert optuna.logging.get_verbosity() == optuna.logging.DEBUG
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # quieter than WARNING: kept
        with quiet_optuna():
            assert optuna.logging.get_verbosity() == optuna.logging.ERROR
    finally:
        optuna.logging.set_verbosity(before)


def test_library_search_leaves_optuna_logging_to_the_caller():
    seen = []

    def objective(trial):
        seen.append(optuna.logging.get_verbosity())  # the level while the library runs
        return synthetic_objective(trial)

    before = optuna.logging.get_verbosity()
    try:
        optuna.logging.set_verbosity(optuna.logging.DEBUG)
        study = open_study("log", optuna.storages.InMemoryStorage(), seed=0, population_size=2)
        run_search(study, objective, n_trials=2)
        assert seen == [optuna.logging.DEBUG] * 2
        assert optuna.logging.get_verbosity() == optuna.logging.DEBUG
    finally:
        optuna.logging.set_verbosity(before)


def test_search_recovers_known_front():
    # in-memory storage: same sampler and study code, without 96 SQLite commits
    study = open_study("synthetic", optuna.storages.InMemoryStorage(), seed=1, population_size=10)
    run_search(study, synthetic_objective, n_trials=60)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 60
    front = {(round(t.values[0], 6), round(t.values[1], 6)) for t in study.best_trials}
    truth = {(round(a, 6), round(e, 6)) for a, e in known_front()}
    # every front point found lies on the true front (y = 0), and most of the front is found
    assert front <= truth, front - truth
    assert len(front) >= 9
    # Optuna's best_trials agrees with an independent O(n^2) dominance check
    pts = [tuple(t.values) for t in done]
    keep = pareto_mask([e for _, e in pts], [a for a, _ in pts])
    mine = {p for p, k in zip(pts, keep, strict=True) if k}
    assert {(round(a, 6), round(e, 6)) for a, e in mine} == front


WORKER = textwrap.dedent(
    """
    import sys
    from functools import partial
    from spikeenergy.search import make_storage, open_study, run_search
    from search_synthetic import synthetic_objective
    url, worker, n, hb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[5]
    sleep = float(sys.argv[4])
    storage = make_storage(url, heartbeat_s=None if hb == "none" else int(hb))
    study = open_study("shared", storage, seed=0, population_size=4, worker=worker)
    run_search(study, partial(synthetic_objective, sleep_s=sleep), n_trials=n)
    """
)


def _worker(tmp_path, url, worker, n, sleep=0.0, hb="none"):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(Path(__file__).parent)])}
    return subprocess.Popen(
        [sys.executable, str(script), url, str(worker), str(n), str(sleep), hb],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _states(url):
    study = optuna.load_study(study_name="shared", storage=make_storage(url, heartbeat_s=None))
    return study.get_trials(deepcopy=False)


def test_two_workers_share_one_sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [_worker(tmp_path, url, w, 12, sleep=0.01) for w in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    trials = _states(url)
    # 2 workers x 12 trials: nothing lost, nothing duplicated, all finished
    assert len(trials) == 24
    assert sorted(t.number for t in trials) == list(range(24))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def test_killed_study_resumes_with_same_trials_plus_new(tmp_path):
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    p = _worker(tmp_path, url, 0, 1000, sleep=0.3, hb="1")
    deadline = time.time() + 60
    before = []
    while time.time() < deadline:
        time.sleep(0.3)
        try:
            before = [t for t in _states(url) if t.state == optuna.trial.TrialState.COMPLETE]
        except (KeyError, Exception):  # study not created yet
            continue
        if len(before) >= 3:
            break
    p.send_signal(signal.SIGKILL)  # interrupt mid-study (a trial is usually RUNNING)
    p.wait(timeout=30)
    before = [t for t in _states(url) if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(before) >= 3
    time.sleep(2.5)  # past the heartbeat grace period (2 x 1 s): a RUNNING trial is stale
    q = _worker(tmp_path, url, 0, 3, hb="1")
    _, err = q.communicate(timeout=120)
    assert q.returncode == 0, err.decode()[-2000:]
    after = _states(url)
    by_number = {t.number: t for t in after}
    for t in before:  # the finished trials are kept exactly
        assert by_number[t.number].state == optuna.trial.TrialState.COMPLETE
        assert by_number[t.number].params == t.params
        assert by_number[t.number].values == t.values
    done_after = [t for t in after if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done_after) >= len(before) + 3
    assert not [t for t in after if t.state == optuna.trial.TrialState.RUNNING]


def test_dominance_pruning_hand_cases():
    rule = DominancePruning(warmup_epochs=1, min_dominating=2, margin=0.05)
    finished = [
        {"epoch_1": [0.80, 100.0]},
        {"epoch_1": [0.90, 50.0]},
        {"epoch_1": [0.70, 10.0]},
        {},  # a trial with no record at that epoch never counts
    ]
    # (0.6, 200): dominated by all three (0.8 and 0.9 and 0.7 >= 0.65, energies <= 200)
    assert rule.dominated_by(1, 0.6, 200.0, finished) == 3
    assert rule.should_prune(1, 0.6, 200.0, finished)
    # (0.6, 20): only (0.7, 10) has less energy -> 1 < 2, kept (a cheap model survives)
    assert rule.dominated_by(1, 0.6, 20.0, finished) == 1
    assert not rule.should_prune(1, 0.6, 20.0, finished)
    # (0.88, 200): needs acc >= 0.93: nobody -> kept; epoch 0 is inside the warm-up
    assert not rule.should_prune(1, 0.88, 200.0, finished)
    assert not rule.should_prune(0, 0.0, 1e9, [{"epoch_0": [1.0, 0.0]}] * 3)
    assert not DominancePruning(enabled=False).should_prune(5, 0.0, 1e9, finished)


@pytest.mark.parametrize("seed", [0])
def test_open_study_resumes_existing(tmp_path, seed):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    s1 = open_study("again", make_storage(url, heartbeat_s=None), seed=seed, population_size=4)
    run_search(s1, synthetic_objective, n_trials=5)
    s2 = open_study("again", make_storage(url, heartbeat_s=None), seed=seed, population_size=4)
    assert [t.params for t in s2.trials] == [t.params for t in s1.trials]
    run_search(s2, synthetic_objective, n_trials=4)
    assert len(s2.trials) == 9
