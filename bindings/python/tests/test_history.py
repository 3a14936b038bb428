"""History: AS-OF by txn id and by datetime, the commit log, the changes
feed, diffs, key history, compaction and HistoryError."""
import datetime as dt
import time

import pytest

import quire


def commit(db, puts=(), dels=(), meta=None):
    with db.begin(write=True) as t:
        for k, v in puts:
            t.put(k, v)
        for k in dels:
            t.delete(k)
        if meta is not None:
            t.commit(meta=meta)
    return t.txn_id


@pytest.fixture
def hdb(path):
    db = quire.open(path, create=True)
    db.set_retention(None)  # keep every commit
    yield db
    db.close()


def test_as_of_txn_and_datetime(hdb):
    ids, states, state = [], [], {}
    for i in range(30):
        k = b"k%d" % (i % 7)
        if i % 5 == 4:
            commit(hdb, dels=[k])
            state.pop(k, None)
        else:
            commit(hdb, puts=[(k, b"%d" % i)])
            state[k] = b"%d" % i
        ids.append(hdb.stat()["txn"])
        states.append(dict(state))
        time.sleep(0.002)
    log = {c.txn: c for c in hdb.history()}
    for txn, want in zip(ids, states):
        with hdb.begin(as_of=txn) as r:
            assert r.txn_id == txn
            assert dict(r.cursor()) == want
        # a commit's own (microsecond) time finds it
        with hdb.begin(as_of=log[txn].time) as r:
            assert r.txn_id == txn
        with hdb.begin(as_of=log[txn].time, after=True) as r:
            assert r.txn_id == txn
    # between two commits: the one before, or with after=True the one after
    mid = log[ids[10]].time + (log[ids[11]].time - log[ids[10]].time) / 2
    if mid > log[ids[10]].time:
        with hdb.begin(as_of=mid) as r:
            assert r.txn_id == ids[10]
        with hdb.begin(as_of=mid, after=True) as r:
            assert r.txn_id == ids[11]
    # naive datetimes are local time, as datetime.timestamp() says
    naive = dt.datetime.fromtimestamp(log[ids[5]].time.timestamp())
    with hdb.begin(as_of=naive) as r:
        assert r.txn_id == ids[5]
    with pytest.raises(quire.CommitNotFoundError):
        hdb.begin(as_of=ids[-1] + 10)
    with pytest.raises(LookupError):
        hdb.begin(as_of=dt.datetime(1999, 1, 1, tzinfo=dt.timezone.utc))


def test_commit_log(hdb):
    t0 = dt.datetime.now(dt.timezone.utc)
    a = commit(hdb, [(b"a", b"1")], meta=b"first")
    b = commit(hdb, [(b"b", b"2"), (b"c", b"3")])
    c = commit(hdb, dels=[b"a"], meta=b"\x00who: me")
    log = list(hdb.history())
    assert [x.txn for x in log[:3]] == [c, b, a]  # newest first
    assert [x.meta for x in log[:3]] == [b"\x00who: me", None, b"first"]
    assert log[0].next_seq - log[0].first_seq == 1
    assert log[1].next_seq - log[1].first_seq == 2
    assert all(x.time.tzinfo == dt.timezone.utc for x in log)
    assert log[0].time >= log[1].time >= log[2].time
    assert log[2].time >= t0 - dt.timedelta(seconds=1)
    assert log[0].time_ns // 1000 == int(
        (log[0].time - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
        / dt.timedelta(microseconds=1))
    assert [x.txn for x in hdb.history(limit=2)] == [c, b]
    with pytest.raises(quire.TooBigError):
        with hdb.begin(write=True) as t:
            t.put(b"x", b"y")
            t.commit(meta=b"m" * (quire.MAX_META_SIZE + 1))


def test_changes_feed_and_diff(hdb):
    a = commit(hdb, [(b"a", b"1"), (b"b", b"2")])
    b = commit(hdb, [(b"a", b"10"), (b"c", b"3")], dels=[b"b"])
    ch = list(hdb.changes())
    assert [(c.op, c.key, c.value, c.txn) for c in ch] == [
        ("put", b"a", b"1", a), ("put", b"b", b"2", a),
        ("put", b"a", b"10", b), ("put", b"c", b"3", b),
        ("del", b"b", None, b)]
    assert [c.seq for c in ch] == sorted(c.seq for c in ch)
    assert list(hdb.changes(since=ch[2].seq)) == ch[3:]
    assert list(hdb.changes(since=ch[-1].seq)) == []
    d = list(hdb.diff(a, b))
    assert d == [(b"a", b"1", b"10"), (b"b", b"2", None), (b"c", None, b"3")]
    assert d[1].key == b"b" and d[1].a == b"2" and d[1].b is None
    assert list(hdb.diff(b, a))[2] == (b"c", b"3", None)
    assert list(hdb.diff(a, a)) == []
    vers = list(hdb.key_history(b"b"))
    assert [(v.op, v.value) for v in vers] == [("del", None), ("put", b"2")]
    # follow with a timeout and nothing new: ends after about timeout s
    t0 = time.monotonic()
    assert len(list(hdb.changes(follow=True, timeout=0.2))) == 5
    assert 0.15 < time.monotonic() - t0 < 5


def test_range_deletes_in_the_feed(hdb, tmp_path):
    a = commit(hdb, [(b"a", b"1"), (b"b", b"2"), (b"ba", b"3"),
                     (b"c", b"4"), (b"\xff", b"5")])
    with hdb.begin(write=True) as t:
        assert t.delete_range(b"b", b"c") == 2
        t.put(b"bb", b"new")  # after the range: stays
        assert t.delete_prefix(b"\xff") == 1  # to the last key
        assert t.delete_range(b"x", b"y") == 0  # nothing: no operation
    b = t.txn_id
    ch = list(hdb.changes(since=5))
    assert [(c.op, c.key, c.value, c.start, c.end, c.count, c.txn)
            for c in ch] == [
        ("del_range", b"b", None, b"b", b"c", 2, b),
        ("put", b"bb", b"new", None, None, None, b),
        ("del_range", b"\xff", None, b"\xff", None, 1, b)]
    assert [c.seq for c in ch] == [6, 7, 8]  # one sequence number each
    seq, txn, op, key, value = ch[0]  # still a 5-tuple
    assert (seq, op, key, value) == (6, "del_range", b"b", None)
    assert len(ch[0]) == 5 and ch[0] == (6, b, "del_range", b"b", None)
    puts = list(hdb.changes())[:5]
    assert all(c.start is None and c.end is None and c.count is None
               for c in puts)
    # older commits keep the keys; diff reports them removed
    with hdb.begin(as_of=a) as r:
        assert r.get(b"ba") == b"3"
    # a key's history has the range delete that removed it
    assert [(v.seq, v.op, v.value) for v in hdb.key_history(b"ba")] == [
        (6, "del_range", None), (3, "put", b"3")]
    assert list(hdb.diff(a, b)) == [
        (b"b", b"2", None), (b"ba", b"3", None), (b"bb", None, b"new"),
        (b"\xff", b"5", None)]
    # replaying the feed rebuilds the state
    with quire.open(str(tmp_path / "copy.quire"), create=True) as cp:
        with cp.begin(write=True) as t:
            for c in hdb.changes():
                if c.op == "put":
                    t.put(c.key, c.value)
                elif c.op == "del":
                    t.delete(c.key)
                else:
                    assert t.delete_range(c.start, c.end) == c.count
        with cp.begin() as r, hdb.begin() as want:
            assert list(r.cursor()) == list(want.cursor()) == [
                (b"a", b"1"), (b"bb", b"new"), (b"c", b"4")]


def test_compaction_and_history_error(path):
    db = quire.open(path, create=True, auto_compact=0)
    db.set_retention(None)
    ids = [commit(db, [(b"k", b"%d" % i), (b"n%d" % i, b"x" * 100)])
           for i in range(20)]
    size_before = db.stat()["file_bytes"]
    db.compact(keep_last=5)
    st = db.stat()
    assert st["history_txn"] > ids[0]
    assert st["file_bytes"] < size_before
    with pytest.raises(quire.HistoryError) as e:
        db.begin(as_of=ids[0])
    assert e.value.code == -15 and isinstance(e.value, quire.Error)
    with db.begin(as_of=ids[-1]) as r:
        assert r.get(b"k") == b"19"
    with db.begin(as_of=ids[-5]) as r:
        assert r.get(b"k") == b"15"
    with pytest.raises(quire.HistoryError):
        list(db.changes(since=0))
    log = list(db.history())
    assert log[0].txn == ids[-1] and len(log) <= 7
    kh = db.begin().key_history(b"k")
    assert [v.value for v in kh][:5] == [b"19", b"18", b"17", b"16", b"15"]
    assert kh.truncated
    assert db.get(b"k") == b"19" and db.stat()["keys"] == 21
    # keep_since by txn and by time
    more = [commit(db, [(b"k", b"%d" % i)]) for i in range(20, 25)]
    db.compact(keep_since=more[2])
    with pytest.raises(quire.HistoryError):
        db.begin(as_of=more[1])
    with db.begin(as_of=more[2]) as r:
        assert r.get(b"k") == b"22"
    when = next(c for c in db.history() if c.txn == more[3]).time
    db.compact(keep_since=when)
    with pytest.raises(quire.HistoryError):
        db.begin(as_of=more[2])
    with pytest.raises(quire.Error):
        db.compact(keep_since=more[-1] + 100)  # past the newest commit
    with pytest.raises(ValueError):
        db.compact(keep_last=0)
    # the default retention: only the newest commit survives
    db.set_retention(1)
    db.compact()
    with pytest.raises(quire.HistoryError):
        db.begin(as_of=more[3])
    db.close()
