"""Atomic writes (ganstyle.io): an interrupted write leaves the old file intact and no temporary sibling."""

import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from ganstyle import io


def test_an_exception_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "table.tsv"
    io.write_tsv(target, pd.DataFrame({"a": [1, 2]}))
    old = target.read_bytes()
    with pytest.raises(RuntimeError, match="disk full"):
        with io.atomic_path(target) as tmp:
            tmp.write_text("a\n3\n")  # half of the new content is on disk
            raise RuntimeError("disk full")
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["table.tsv"]


def test_a_writer_that_fails_part_way_keeps_the_old_file(tmp_path):
    import matplotlib.pyplot as plt

    target = tmp_path / "figure.png"
    fig = plt.figure()
    io.save_figure(fig, target)
    old = target.read_bytes()
    with pytest.raises(AttributeError):
        io.save_figure(fig, target, metadata={"Software": object()})  # fails while the PNG is being written
    plt.close(fig)
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"]


# the child writes half of a large new file, says so, and waits to be killed
KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from ganstyle import io

    with io.atomic_path(sys.argv[1]) as tmp, open(tmp, "w") as handle:
        handle.write("new " * 100_000)
        handle.flush()
        print(tmp, flush=True)
        time.sleep(120)
        handle.write("end")
    """
)


def killed_mid_write(target):
    """Start a writer of ``target``, SIGKILL it mid-write; the temporary it was writing."""
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        temporary = child.stdout.readline().strip()
        assert temporary, "the writer did not start"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        child.kill()
    assert child.returncode == -signal.SIGKILL
    return temporary


def test_a_killed_writer_keeps_the_old_file_and_its_leftover_goes_with_the_next_write(tmp_path):
    target = tmp_path / "similarity.tsv"
    io.write_text(target, "old\n")
    temporary = killed_mid_write(target)
    assert target.read_text() == "old\n"
    # SIGKILL runs no clean-up: the half-written temporary is there, hidden, named after its target
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert [str(p) for p in leftovers] == [temporary] and leftovers[0].name.startswith(".similarity.tsv.")
    assert leftovers[0].stat().st_size >= 400_000
    io.write_text(target, "rerun\n")
    assert target.read_text() == "rerun\n" and [p.name for p in tmp_path.iterdir()] == ["similarity.tsv"]


def test_only_the_same_files_write_removes_a_leftover(tmp_path):
    target = tmp_path / "a[1].tsv"  # glob characters in the name
    io.write_text(target, "old\n")
    temporary = killed_mid_write(target)
    io.write_text(tmp_path / "other.tsv", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a[1].tsv", "other.tsv", temporary.rsplit("/", 1)[1]])
    assert [str(p) for p in io.remove_stale_temporaries(target)] == [temporary]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a[1].tsv", "other.tsv"]


def test_a_live_writers_temporary_is_left_alone(tmp_path):
    target = tmp_path / "t.tsv"
    with io.atomic_path(target) as mine:
        mine.write_text("in progress")
        assert io.remove_stale_temporaries(target) == [] and mine.exists()
    assert target.read_text() == "in progress"
