"""Max-Cut tooling: cut values, graph recipe, G-set reader, exact and heuristic solvers, bounds."""

import numpy as np
import pytest

from spikeenergy.dynamics import (
    brute_force_maxcut,
    cut_value,
    goemans_williamson,
    greedy_maxcut,
    local_search,
    read_gset,
    rudy_random_graph,
    spectral_upper_bound,
)


def _cycle(n: int) -> np.ndarray:
    w = np.zeros((n, n))
    for i in range(n):
        w[i, (i + 1) % n] = w[(i + 1) % n, i] = 1.0
    return w


def test_cut_value_hand_computed():
    tri = np.ones((3, 3)) - np.eye(3)
    # s = (1, 1, -1) cuts edges (0,2) and (1,2): 2
    assert cut_value(tri, np.array([1.0, 1.0, -1.0])) == pytest.approx(2.0)
    assert brute_force_maxcut(tri)[0] == 2.0  # an odd cycle cannot be fully cut
    assert brute_force_maxcut(np.ones((4, 4)) - np.eye(4))[0] == 4.0  # K4: 2 x 2 split
    value, spins = brute_force_maxcut(_cycle(6))
    assert value == 6.0  # even cycle is bipartite: every edge cut
    assert cut_value(_cycle(6), spins) == pytest.approx(6.0)


def test_rudy_recipe_edge_count_weights_and_seed():
    w = rudy_random_graph(100, 6, seed=3)
    # exactly round(0.06 * 100 * 99 / 2) = round(297.0) = 297 edges, symmetric, zero diagonal
    assert int((np.triu(w) != 0).sum()) == 297
    assert np.array_equal(w, w.T)
    assert not np.diag(w).any()
    assert set(np.unique(w)) == {0.0, 1.0}
    signed = rudy_random_graph(100, 6, signed=True, seed=3)
    assert set(np.unique(signed)) == {-1.0, 0.0, 1.0}
    assert np.array_equal(rudy_random_graph(100, 6, seed=3), w)
    assert not np.array_equal(rudy_random_graph(100, 6, seed=4), w)
    with pytest.raises(ValueError, match="percent"):
        rudy_random_graph(10, 0.0)


def test_read_gset(tmp_path):
    path = tmp_path / "G0"
    path.write_text("4 3\n1 2 1\n2 3 -1\n1 4 1\n")
    w = read_gset(path)
    assert w.shape == (4, 4)
    assert w[0, 1] == w[1, 0] == 1.0
    assert w[1, 2] == -1.0
    assert w[0, 3] == 1.0
    assert w.sum() == 2.0  # (1 - 1 + 1) counted twice
    bad = tmp_path / "bad"
    bad.write_text("4 5\n1 2 1\n")
    with pytest.raises(ValueError, match="announces 5 edges"):
        read_gset(bad)


def test_local_search_reaches_one_flip_optimum():
    w = rudy_random_graph(40, 30, signed=True, seed=1)
    s = local_search(w, np.ones(40))
    gains = s * (w @ s)  # cut change of flipping each vertex
    assert (gains <= 1e-12).all()


def test_heuristics_and_bounds_against_brute_force():
    for seed in range(4):
        w = rudy_random_graph(14, 40, seed=seed)
        optimum, _ = brute_force_maxcut(w)
        greedy = greedy_maxcut(w, restarts=20, seed=seed)
        assert greedy.cut <= optimum
        assert greedy.cut >= 0.9 * optimum
        gw, sdp = goemans_williamson(w, seed=seed)
        assert sdp >= optimum - 1e-6  # the SDP relaxation is an upper bound
        assert gw.cut >= 0.878 * sdp  # best of 256 roundings beats the GW expectation
        assert spectral_upper_bound(w) >= optimum - 1e-9
        assert spectral_upper_bound(w, iterations=20) >= optimum - 1e-9
        assert spectral_upper_bound(w, iterations=20) <= spectral_upper_bound(w) + 1e-9
