"""Progress bars write one line per update to streams that are not terminals."""

from __future__ import annotations

import io

from spikeenergy.progress import LineStream, LineTqdm, is_terminal, tqdm


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_stream_gets_one_line_per_update() -> None:
    buf = io.StringIO()
    with tqdm(total=3, file=buf, mininterval=0, desc="bench", dynamic_ncols=True) as bar:
        assert isinstance(bar, LineTqdm)
        bar.set_postfix_str("best -")  # shown with the next update, not on a line of its own
        for i in range(3):
            bar.update(1)
            bar.set_postfix_str(f"best {i}")
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue()
    assert buf.getvalue().endswith("\n")
    # the initial state, one line per update, and the final postfix at close
    assert [ln.split("|")[0].strip() for ln in lines] == [
        "bench:   0%",
        "bench:  33%",
        "bench:  67%",
        "bench: 100%",
        "bench: 100%",
    ]
    assert lines[1].endswith("best -]")
    assert lines[3].endswith("best 1]")
    assert lines[4].endswith("best 2]")
    assert len(set(lines)) == len(lines)  # no state written twice


def test_log_bars_default_to_a_slow_refresh() -> None:
    buf = io.StringIO()
    bar = tqdm(range(1000), file=buf)
    for _ in bar:
        pass
    # 1000 fast updates: the first state and the closing one, not 1000 lines
    assert len(buf.getvalue().splitlines()) == 2


def test_line_stream_drops_clears_repeats_and_escapes() -> None:
    buf = io.StringIO()
    s = LineStream(buf)
    s.write("\ra 1   ")
    s.write("\ra 1")  # same state again
    s.write("\n\x1b[A\rb 2")  # a cursor-up escape of a nested bar
    s.write("\r      \r")  # tqdm clearing a leave=False bar
    assert buf.getvalue() == "a 1\nb 2\n"


def test_terminals_get_tqdm_itself() -> None:
    term = FakeTerminal()
    assert is_terminal(term)
    assert not is_terminal(io.StringIO())
    bar = tqdm(total=2, file=term, mininterval=0)
    assert not isinstance(bar, LineTqdm)
    bar.update(2)
    bar.close()
    assert "\r" in term.getvalue()  # redrawn in place, as tqdm does
