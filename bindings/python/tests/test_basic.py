"""The API surface: reads and writes, argument checking, ranges,
transactions ending, errors."""
import json
import os
import subprocess

import pytest

import quire


def put_all(db, items, meta=None):
    with db.begin(write=True) as t:
        for k, v in items.items():
            t.put(k, v)
        if meta is not None:
            t.commit(meta=meta)
    return t.txn_id


def test_put_get_delete(db):
    with db.begin(write=True) as t:
        assert t.write and not t.ended
        t.put(b"a", b"1")
        t.put(bytearray(b"b"), memoryview(b"2"))
        t.put(b"", b"")  # empty key and value are valid
        assert t.get(b"a") == b"1"  # own writes
        assert t.delete(b"a") is True
        assert t.delete(b"a") is False
        assert t.get(b"a") is None
        assert t.get(b"a", b"dflt") == b"dflt"
    assert t.ended
    with db.begin() as r:
        assert not r.write
        assert r.get(b"b") == b"2"
        assert r.get(b"") == b""
        assert r.get(b"a") is None
        assert isinstance(r.get(b"b"), bytes)
    assert db.get(b"b") == b"2"


def test_context_manager_aborts_on_exception(db):
    with pytest.raises(RuntimeError):
        with db.begin(write=True) as t:
            t.put(b"k", b"v")
            raise RuntimeError("boom")
    assert db.get(b"k") is None
    with db.begin(write=True) as t:
        t.put(b"k", b"v")
    assert db.get(b"k") == b"v"


def test_txn_ids_and_snapshot_isolation(db):
    id1 = put_all(db, {b"k": b"1"})
    snap = db.begin()
    assert snap.txn_id == id1
    id2 = put_all(db, {b"k": b"2"})
    assert id2 == id1 + 1
    assert snap.get(b"k") == b"1"  # the snapshot does not move
    snap.abort()
    assert db.get(b"k") == b"2"


def test_bad_arguments(db):
    with db.begin(write=True) as t:
        for bad in ("str", None, 5, 1.5, ["x"]):
            with pytest.raises(TypeError):
                t.put(bad, b"v")
            with pytest.raises(TypeError):
                t.put(b"k", bad)
            with pytest.raises(TypeError):
                t.get(bad)
            with pytest.raises(TypeError):
                t.delete(bad)
        with pytest.raises(TypeError):
            t.put(b"k")
        with pytest.raises(TypeError):
            t.put(b"k", b"v", b"x", b"y")
        with pytest.raises(TypeError):
            t.put(b"k", b"v", bogus=1)
        with pytest.raises(TypeError):
            list(t.cursor(prefix="p"))
        # the limits: quire.Error and ValueError both
        t.put(b"k" * quire.MAX_KEY_SIZE, b"v")
        with pytest.raises(quire.TooBigError) as e:
            t.put(b"k" * (quire.MAX_KEY_SIZE + 1), b"v")
        assert isinstance(e.value, quire.Error)
        assert isinstance(e.value, ValueError)
        assert e.value.code == -9
        with pytest.raises(ValueError):
            t.get(b"x" * 100000)
        with pytest.raises(TypeError):
            t.commit(meta="str")
    with pytest.raises(TypeError):
        db.begin(as_of="yesterday")
    with pytest.raises(ValueError):
        db.begin(write=True, as_of=1)
    with pytest.raises(TypeError):
        quire.open(None)
    assert db.get(b"k" * quire.MAX_KEY_SIZE) == b"v"


def test_large_values(db):
    big = os.urandom(3 << 20)
    with db.begin(write=True) as t:
        t.put(b"big", big)  # written with the GIL released
        t.put(b"mid", big[:70000])
    with db.begin() as r:
        assert r.get(b"big") == big
        assert dict(r.cursor())[b"mid"] == big[:70000]


def test_cursor_ranges(db):
    keys = [b"", b"a", b"ab", b"abc", b"ab\xff", b"ab\xff\xff", b"ac",
            b"b", b"\xff", b"\xff\xff", b"\xff\x00"]
    put_all(db, {k: b"v" + k for k in keys})
    model = sorted(keys)

    def expect(prefix=None, start=None, end=None):
        return [k for k in model
                if (prefix is None or k.startswith(prefix))
                and (start is None or k >= start)
                and (end is None or k < end)]

    with db.begin() as r:
        assert [k for k, _ in r.cursor()] == model
        assert all(v == b"v" + k for k, v in r.cursor())
        cases = [{}, {"prefix": b"ab"}, {"prefix": b"ab\xff"},
                 {"prefix": b"\xff"}, {"prefix": b"\xff\xff"},
                 {"prefix": b""}, {"prefix": b"zz"},
                 {"start": b"ab"}, {"end": b"ac"}, {"start": b"a", "end": b"b"},
                 {"start": b"b", "end": b"a"}, {"start": b"zzz"},
                 {"prefix": b"a", "start": b"abc"},
                 {"prefix": b"a", "end": b"ab\xff"},
                 {"prefix": b"ab", "start": b"a", "end": b"zz"},
                 {"end": b""}, {"start": b"", "end": b"\xff"}]
        for kw in cases:
            want = expect(**kw)
            assert [k for k, _ in r.cursor(**kw)] == want, kw
            assert [k for k, _ in r.cursor(reverse=True, **kw)] == \
                want[::-1], kw


def test_cursor_in_write_txn_sees_own_writes(db):
    put_all(db, {b"a": b"1", b"c": b"3"})
    with db.begin(write=True) as t:
        t.put(b"b", b"2")
        t.delete(b"c")
        assert list(t.cursor()) == [(b"a", b"1"), (b"b", b"2")]


def test_delete_range_and_prefix(db):
    keys = [b"", b"a", b"ab", b"abc", b"ab\xff", b"ab\xff\xff", b"ac",
            b"b", b"ba", b"c", b"\xff", b"\xff\xff", b"\xff\x00"]
    put_all(db, {k: b"v" + k for k in keys})
    with db.begin(write=True) as t:
        # the keys go at once, in the transaction's own reads
        assert t.delete_prefix(b"ab") == 4
        assert t.get(b"abc") is None and t.get(b"ac") == b"vac"
        assert t.delete(b"abc") is False
        assert t.delete_prefix(b"ab") == 0  # already gone
        # end excluded; its own earlier puts count
        t.put(b"bb", b"new")
        assert t.delete_range(b"b", b"c") == 3
        assert t.get(b"c") == b"vc"
        # a put into the range after the delete stays
        t.put(b"ba", b"again", expect_version=0)
        assert [k for k, _ in t.cursor(start=b"a", end=b"c")] == \
            [b"a", b"ac", b"ba"]
        assert [k for k, _ in t.cursor(reverse=True)][-3:] == \
            [b"ac", b"a", b""]
        # a prefix of 0xff bytes only runs to the last key
        assert t.delete_prefix(b"\xff\xff") == 1
        assert t.delete_range(b"\xff") == 2  # end None: to the last key
        # an empty end is the empty key: nothing is below it
        assert t.delete_range(b"", b"") == 0
        assert t.delete_range(end=b"a") == 1  # start None: from b""
    with db.begin() as r:
        assert [k for k, _ in r.cursor()] == [b"a", b"ac", b"ba", b"c"]
        assert r.get(b"ba") == b"again"
    # abort drops a range delete with the rest
    with pytest.raises(RuntimeError):
        with db.begin(write=True) as t:
            assert t.delete_range() == 4
            assert list(t.cursor()) == []
            raise RuntimeError("boom")
    assert db.get(b"ac") == b"vac"
    with db.begin(write=True) as t:
        assert t.delete_prefix(b"") == 4  # every key
    assert db.stat()["keys"] == 0


def test_delete_range_errors(db):
    put_all(db, {b"a": b"1", b"b": b"2"})
    with db.begin(write=True) as t:
        with pytest.raises(quire.Error) as e:
            t.delete_range(b"b", b"a")  # ends before it starts
        assert e.value.code == -2
        with pytest.raises(quire.TooBigError):
            t.delete_range(b"k" * (quire.MAX_KEY_SIZE + 1))
        with pytest.raises(quire.TooBigError):
            t.delete_range(b"a", b"k" * (quire.MAX_KEY_SIZE + 1))
        with pytest.raises(quire.TooBigError):
            t.delete_prefix(b"k" * (quire.MAX_KEY_SIZE + 1))
        for bad in ("str", 5, ["x"]):
            with pytest.raises(TypeError):
                t.delete_range(bad)
            with pytest.raises(TypeError):
                t.delete_range(b"a", bad)
            with pytest.raises(TypeError):
                t.delete_prefix(bad)
        with pytest.raises(TypeError):
            t.delete_prefix(None)
        with pytest.raises(TypeError):
            t.delete_range(b"a", b"b", b"c")
        with pytest.raises(TypeError):
            t.delete_range(begin=b"a")
        # any buffer is taken, as for put
        assert t.delete_range(bytearray(b"a"), memoryview(b"b")) == 1
    with db.begin() as r:  # a read snapshot cannot write
        with pytest.raises(quire.Error) as e:
            r.delete_range(b"a")
        assert e.value.code == -2
        with pytest.raises(quire.Error):
            r.delete_prefix(b"a")
    assert db.get(b"b") == b"2" and db.get(b"a") is None


def test_use_after_commit_and_close(path):
    db = quire.open(path, create=True)
    t = db.begin(write=True)
    t.put(b"k", b"v")
    cur = t.cursor()
    t.commit()
    for call in (lambda: t.get(b"k"), lambda: t.put(b"k", b"v"),
                 lambda: t.delete(b"k"), lambda: t.commit(), lambda: t.stat(),
                 lambda: t.cursor(), lambda: next(cur), lambda: t.version(b"k"),
                 lambda: t.changes(), lambda: t.delete_range(b"a"),
                 lambda: t.delete_prefix(b"k")):
        with pytest.raises(quire.Error):
            call()
    t.abort()  # ending again: nothing
    with pytest.raises(quire.ClosedError) as e:
        t.get(b"k")
    assert e.value.code is None  # the binding's own error, not quire's
    r = db.begin()
    it = r.cursor()
    feed = r.changes()
    assert next(it) == (b"k", b"v")
    db.close()  # aborts r, closes its iterators
    assert db.closed and r.ended
    for call in (lambda: r.get(b"k"), lambda: next(it), lambda: next(feed),
                 lambda: db.begin(), lambda: db.begin(write=True),
                 lambda: db.stat(), lambda: db.compact(), lambda: db.sync(),
                 lambda: db.wait(1, 0), lambda: list(db.history())):
        with pytest.raises(quire.ClosedError):
            call()
    db.close()  # twice: nothing
    with pytest.raises(quire.Error):
        with db:
            pass
    # finished iterators stay finished
    db = quire.open(path)
    with db.begin() as r:
        it = r.cursor()
        assert list(it) == [(b"k", b"v")]
        assert list(it) == []
        it.close()
        assert list(it) == []
    db.close()


def test_objects_outlive_their_parents(path):
    """Dropping the references to parents must not free them under their
    children (iterator -> transaction -> database)."""
    def make():
        db = quire.open(path, create=True)
        with db.begin(write=True) as t:
            for i in range(100):
                t.put(b"%03d" % i, b"x")
        return db.begin().cursor()
    it = make()
    assert len(list(it)) == 100
    del it
    db = quire.open(path)
    db.close()


def test_open_errors(tmp_path):
    missing = str(tmp_path / "nope.quire")
    with pytest.raises(quire.NoSuchFileError) as e:
        quire.open(missing)
    assert isinstance(e.value, FileNotFoundError)
    assert "nope.quire" in str(e.value)
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a database" * 1000)
    with pytest.raises(quire.NotADatabaseError):
        quire.open(str(junk))
    with pytest.raises(quire.Error):
        quire.open(str(tmp_path / "no" / "dir" / "x"), create=True)


def test_readonly_and_nosync(path):
    with quire.open(path, create=True, sync=False) as db:
        with db.begin(write=True) as t:
            t.put(b"k", b"v")
        db.sync()
        db.checkpoint()
    with quire.open(path, readonly=True) as db:
        assert db.get(b"k") == b"v"
        with pytest.raises(quire.ReadOnlyError):
            db.begin(write=True)
    with quire.open(path, mmap=False, cache_size=1 << 20) as db:
        assert db.get(b"k") == b"v"


def test_second_writer_in_same_thread_is_busy(db):
    with db.begin(write=True):
        with pytest.raises(quire.BusyError):
            db.begin(write=True)
        with pytest.raises(quire.BusyError):
            db.compact()


def test_compare_and_swap(db):
    with db.begin(write=True) as t:
        assert t.version(b"k") == 0
        t.put(b"k", b"1", expect_version=0)
        with pytest.raises(quire.ConflictError):
            t.put(b"k", b"x", expect_version=0)
    with db.begin() as r:
        v1 = r.version(b"k")
    assert v1 > 0
    with db.begin(write=True) as t:
        with pytest.raises(quire.ConflictError) as e:
            t.put(b"k", b"2", expect_version=v1 + 100)
        assert e.value.code == -16
        t.put(b"k", b"2", expect_version=v1)
        v2 = t.version(b"k")
        assert v2 > v1
        with pytest.raises(quire.ConflictError):
            t.delete(b"k", expect_version=v1)
        assert t.delete(b"k", expect_version=v2) is True
        assert t.delete(b"k", expect_version=0) is False
    assert db.get(b"k") is None


def test_stat_names_match_the_tool(db, path):
    put_all(db, {b"a": b"1", b"b": b"2"})
    st = db.stat()
    assert st["keys"] == 2 and st["txn"] >= 1 and st["path"] == path
    assert st["time"].tzinfo is not None
    tool = os.environ.get("QUIRE_BIN")
    if not tool or not os.path.exists(tool):
        pytest.skip("QUIRE_BIN not set: no quire tool to compare with")
    out = subprocess.run([tool, "stat", path, "--json"], check=True,
                         capture_output=True, text=True).stdout
    ref = json.loads(out)
    assert set(ref) == set(st)
    for k in ("txn", "keys", "seq", "file_bytes", "keep_last", "history_txn"):
        assert ref[k] == st[k], k


def test_corruption_is_reported(path):
    with quire.open(path, create=True, auto_compact=0) as db:
        with db.begin(write=True) as t:
            for i in range(20000):
                t.put(b"key%08d" % i, b"value%08d" % i * 4)
        db.checkpoint()
        size = db.stat()["file_bytes"]
    # damage the middle of the tree (committed nodes), not the header
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(b"\x5a" * 8192)
    with pytest.raises(quire.CorruptError) as e:
        with quire.open(path) as db, db.begin() as r:
            for _ in r.cursor():
                pass
    assert e.value.code == -6
    assert "offset" in str(e.value) or "checksum" in str(e.value)
