"""Threads and processes: readers while a writer commits, writers taking
turns, the changes feed followed from another process, the GIL released
while quire blocks, close while other threads are inside."""
import subprocess
import threading
import time

import pytest

import quire
from conftest import PYTHON, child_env

N = 50  # keys; every commit writes all of them with one value


def test_readers_see_whole_commits_while_writer_commits(db):
    with db.begin(write=True) as t:
        for i in range(N):
            t.put(b"k%02d" % i, b"0")
    stop = threading.Event()
    errors, seen = [], []

    def reader():
        try:
            n = 0
            while not stop.is_set():
                with db.begin() as r:
                    vals = {v for _, v in r.cursor()}
                    assert len(vals) == 1, vals  # never half a commit
                    assert r.get(b"k00") in vals
                    n += 1
            seen.append(n)
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for th in threads:
        th.start()
    for c in range(1, 150):
        with db.begin(write=True) as t:
            for i in range(N):
                t.put(b"k%02d" % i, b"%d" % c)
    stop.set()
    for th in threads:
        th.join()
    assert not errors, errors
    assert len(seen) == 4 and all(n > 0 for n in seen)
    with db.begin() as r:
        assert {v for _, v in r.cursor()} == {b"149"}


def test_writers_in_threads_take_turns(db):
    """begin(write=True) waits for the writer of another thread with the
    GIL released (else this would deadlock)."""
    def bump(n):
        for _ in range(n):
            with db.begin(write=True) as t:
                t.put(b"c", b"%d" % (int(t.get(b"c", b"0")) + 1))

    threads = [threading.Thread(target=bump, args=(50,)) for _ in range(4)]
    with db.begin(write=True) as t:  # hold the writer while they start
        for th in threads:
            th.start()
        time.sleep(0.05)
        t.put(b"c", b"0")
    for th in threads:
        th.join()
    assert db.get(b"c") == b"200"


def test_wait_releases_the_gil_and_wakes(db):
    got = []
    seq = db.stat()["seq"]

    def waiter():
        got.append(db.wait(seq, timeout=10))

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.05)
    assert th.is_alive()  # and this thread still runs: the GIL is free
    with db.begin(write=True) as t:
        t.put(b"x", b"y")
    th.join(5)
    assert got == [True]
    assert db.wait(seq + 5, timeout=0.05) is False


def test_close_while_another_thread_waits(path):
    db = quire.open(path, create=True)
    res = []

    def waiter():
        try:
            db.wait(1000, timeout=None)
            res.append("woke")
        except quire.ClosedError:
            res.append("closed")

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.1)
    r = db.begin()
    db.close()
    th.join(5)
    assert res == ["closed"] and r.ended and db.closed


FOLLOWER = r"""
import sys, quire
db = quire.open(sys.argv[1])
want = int(sys.argv[2])
n = 0
for c in db.changes(follow=True, timeout=20):
    print(c.seq, c.txn, c.op, c.key.decode(),
          "-" if c.value is None else c.value.decode(), flush=True)
    n += 1
    if n == want:
        break
db.close()
"""


def test_changes_followed_from_another_process(db, path):
    with db.begin(write=True) as t:
        t.put(b"before", b"0")
    commits = 30
    want = 1 + commits * 2
    child = subprocess.Popen([PYTHON, "-c", FOLLOWER, path, str(want)],
                             env=child_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        expect = [("put", "before", "0")]
        for i in range(commits):
            with db.begin(write=True) as t:
                t.put(b"k%d" % i, b"v%d" % i)
                t.delete(b"k%d" % (i - 1)) if i else t.put(b"z", b"z")
            expect.append(("put", "k%d" % i, "v%d" % i))
            expect.append(("del", "k%d" % (i - 1), "-") if i
                          else ("put", "z", "z"))
            time.sleep(0.01)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    lines = [ln.split(" ") for ln in out.splitlines()]
    assert [(op, k, v) for _, _, op, k, v in lines] == expect
    seqs = [int(s) for s, *_ in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_other_process_holding_the_writer(db, path):
    holder = subprocess.Popen(
        [PYTHON, "-c", "import sys, quire, time\n"
         "db = quire.open(sys.argv[1])\n"
         "t = db.begin(write=True)\n"
         "print('held', flush=True)\n"
         "sys.stdin.readline()\n"
         "t.put(b'from', b'child'); t.commit(); db.close()\n", path],
        env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(quire.BusyError):
            db.begin(write=True)  # busy_timeout=0: at once
        db2 = quire.open(path, busy_timeout=10)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        with db2.begin(write=True) as t:  # waits for the child's commit
            assert t.get(b"from") == b"child"
            t.put(b"from", b"parent")
        db2.close()
        assert holder.wait(30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert db.get(b"from") == b"parent"
