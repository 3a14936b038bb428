"""Keyspaces: Transaction.keyspace() views, listing, rename, drop, the
changes feed's keyspace fields, and the lifetime of views."""
import gc
import random

import pytest

import quire
from quire import _quire


@pytest.fixture
def hdb(db):
    db.set_retention(None)  # keep every commit (AS-OF, feeds)
    return db


def test_views_are_separate_and_commit_together(db):
    with db.begin(write=True) as t:
        t.put(b"k", b"default")
        u = t.keyspace(b"users", create=True)
        o = t.keyspace(b"orders", create=True)
        assert isinstance(u, quire.Keyspace)
        u.put(b"k", b"ada")
        o.put(b"k", b"42")
        assert (t.get(b"k"), u.get(b"k"), o.get(b"k")) == \
            (b"default", b"ada", b"42")
        assert u.get(b"missing", b"d") == b"d"
        assert u.name == b"users" and u.txn is t and u.write
        assert u.txn_id == t.txn_id and u.db is db and not u.ended
    with db.begin() as r:
        assert r.get(b"k") == b"default"
        assert r.keyspace(b"users").get(b"k") == b"ada"
        assert r.keyspace(b"orders").get(b"k") == b"42"
        assert list(r.cursor()) == [(b"k", b"default")]
        assert r.keyspaces() == [b"orders", b"users"]
        assert not r.keyspace(b"users").write
    assert db.keyspaces() == [b"orders", b"users"]
    assert db.get(b"k", keyspace=b"users") == b"ada"
    assert db.get(b"nope", b"x", keyspace=b"users") == b"x"


def test_abort_discards_keyspace(db):
    with pytest.raises(RuntimeError):
        with db.begin(write=True) as t:
            t.keyspace(b"tmp", create=True).put(b"a", b"1")
            raise RuntimeError
    assert db.keyspaces() == []
    with pytest.raises(quire.KeyspaceNotFoundError):
        db.get(b"a", keyspace=b"tmp")


def test_not_found_and_create_rules(db):
    with db.begin(write=True) as t:
        with pytest.raises(quire.KeyspaceNotFoundError) as ei:
            t.keyspace(b"nope")
        assert isinstance(ei.value, LookupError)
        assert ei.value.code == -1  # QUIRE_NOTFOUND
        assert "b'nope'" in str(ei.value)
        t.keyspace(b"a", create=True)
    with db.begin() as r:
        assert r.keyspace(b"a").name == b"a"
        for name in (b"a", b"b"):  # creating needs the writer, even
            with pytest.raises(quire.Error) as ei:  # when it exists
                r.keyspace(name, create=True)
            assert ei.value.code == -2  # QUIRE_EINVAL
        with pytest.raises(quire.Error):
            r.drop_keyspace(b"a")
        with pytest.raises(quire.Error):
            r.rename_keyspace(b"a", b"c")


def test_names(db):
    with db.begin(write=True) as t:
        for bad in ("users", 1):
            with pytest.raises(TypeError):
                t.keyspace(bad, create=True)
        with pytest.raises(TypeError):
            t.drop_keyspace(None)
        with pytest.raises(TypeError):
            t.rename_keyspace(b"x", None)
        for bad in (b"", b"n" * (quire.MAX_KEYSPACE_NAME + 1)):
            with pytest.raises(quire.Error) as ei:
                t.keyspace(bad, create=True)
            assert ei.value.code == -2
        long = b"n" * quire.MAX_KEYSPACE_NAME
        t.keyspace(long, create=True).put(b"k", b"v")
        t.keyspace(bytearray(b"\x00\xff"), create=True).put(b"k", b"w")
        assert t.keyspace(memoryview(b"\x00\xff")).get(b"k") == b"w"
    assert db.keyspaces() == [b"\x00\xff", long]


def test_default_keyspace_view(db):
    with db.begin(write=True) as t:
        t.put(b"a", b"1")
        t.keyspace(b"x", create=True).put(b"b", b"2")
        d = t.keyspace()
        assert d.name is None and "default" in repr(d)
        assert d is t.keyspace(None)
        d.put(b"c", b"3")
        assert t.get(b"c") == b"3"
        assert len(d) == 2 and d.stat() == (2, 4)
        assert len(t.keyspace(b"x")) == 1
    with db.begin() as r:
        assert [c.key for c in r.keyspace().changes()] == [b"a", b"c"]
        assert [c.key for c in r.changes() if c.op == "put"] == \
            [b"a", b"b", b"c"]


def test_same_object_and_reuse(db):
    with db.begin(write=True) as t:
        u = t.keyspace(b"u", create=True)
        assert t.keyspace(b"u") is u
        u.put(b"k", b"v")
        del u
        gc.collect()
        # the view is kept for the next call of that name
        u2 = t.keyspace(b"u")
        assert u2.get(b"k") == b"v"
        for i in range(20000):  # no view piles up per call
            t.keyspace(b"u").put(b"%05d" % i, b"x")
        assert len(u2) == 20001


def test_methods(db):
    with db.begin(write=True) as t:
        ks = t.keyspace(b"ks", create=True)
        t.put(b"p:0", b"default")  # never seen through ks
        for i in range(10):
            ks.put(b"p:%d" % i, b"%d" % i)
        ks.put(b"q", b"q")
        assert [k for k, _ in ks.cursor(prefix=b"p:")] == \
            [b"p:%d" % i for i in range(10)]
        assert [k for k, _ in ks.cursor(start=b"p:8", reverse=True)] == \
            [b"q", b"p:9", b"p:8"]
        assert [k for k, _ in ks.cursor(end=b"p:2")] == [b"p:0", b"p:1"]
        assert ks.delete(b"q") is True and ks.delete(b"q") is False
        assert ks.delete_range(b"p:0", b"p:3") == 3
        assert ks.delete_prefix(b"p:9") == 1
        assert t.get(b"p:0") == b"default"
        assert len(ks) == 6
        assert ks.stat() == (6, 6 * 4)
        v = ks.version(b"p:5")
        assert v > 0 and ks.version(b"nope") == 0
        with pytest.raises(quire.ConflictError):
            ks.put(b"p:5", b"x", expect_version=v + 100)
        ks.put(b"p:5", b"new", expect_version=v)
        with pytest.raises(quire.ConflictError):
            ks.put(b"p:5", b"x", expect_version=0)
        ks.put(b"fresh", b"1", expect_version=0)
        assert ks.delete(b"fresh", expect_version=ks.version(b"fresh"))
        with pytest.raises(quire.TooBigError):
            ks.put(b"k" * (quire.MAX_KEY_SIZE + 1), b"")
        with pytest.raises(quire.Error):
            ks.delete_range(b"b", b"a")
        big = b"v" * (1 << 17)  # a put that releases the GIL
        ks.put(b"big", big)
        assert ks.get(b"big") == big
    assert not hasattr(ks, "commit") and not hasattr(ks, "abort")
    assert not hasattr(ks, "__enter__")
    with db.begin() as r:
        ks = r.keyspace(b"ks")
        assert ks.get(b"p:5") == b"new"
        assert [v.value for v in ks.key_history(b"p:5")] == [b"new", b"5"]
        assert [v.value for v in r.key_history(b"p:0")] == [b"default"]
        assert list(r.key_history(b"p:5")) == []
        with pytest.raises(quire.Error):
            ks.put(b"a", b"b")  # a snapshot
    assert [v.value for v in db.key_history(b"p:5", keyspace=b"ks")] == \
        [b"new", b"5"]
    assert list(db.key_history(b"p:5")) == []


def test_commit_and_abort_refused_on_view_type(db):
    with db.begin(write=True) as t:
        ks = t.keyspace(b"x", create=True)
        with pytest.raises(AttributeError):
            ks.commit()
        assert not t.ended


def test_view_after_transaction_end(db):
    with db.begin(write=True) as t:
        ks = t.keyspace(b"x", create=True)
        ks.put(b"a", b"1")
        ks.put(b"b", b"2")
        cur = ks.cursor()
        assert next(cur) == (b"a", b"1")
        feed = ks.changes()
    assert ks.ended and "ended" in repr(ks)
    for call in (lambda: ks.get(b"a"), lambda: ks.put(b"a", b"b"),
                 lambda: ks.delete(b"a"), lambda: ks.cursor(),
                 lambda: ks.changes(), lambda: ks.key_history(b"a"),
                 lambda: ks.stat(), lambda: len(ks),
                 lambda: ks.delete_prefix(b""), lambda: ks.version(b"a")):
        with pytest.raises(quire.ClosedError):
            call()
    with pytest.raises(quire.ClosedError):
        next(cur)
    with pytest.raises(quire.ClosedError):
        next(feed)
    with pytest.raises(quire.ClosedError):
        t.keyspace(b"x")
    # many transactions later (quire reuses ended transaction structs)
    for i in range(200):
        with db.begin(write=True) as t2:
            t2.keyspace(b"x").put(b"n", b"%d" % i)
    with pytest.raises(quire.ClosedError):
        ks.get(b"a")
    assert db.get(b"a", keyspace=b"x") == b"1"


def test_view_keeps_transaction_alive(db):
    with db.begin(write=True) as t:
        t.keyspace(b"x", create=True).put(b"a", b"1")
    ks = db.begin().keyspace(b"x")  # the snapshot has no other reference
    gc.collect()
    assert ks.get(b"a") == b"1"
    assert not ks.txn.ended
    with db.begin(write=True) as t:
        t.keyspace(b"x").put(b"a", b"2")
    assert ks.get(b"a") == b"1"  # still the old snapshot
    ks.txn.abort()
    assert ks.ended
    with pytest.raises(quire.ClosedError):
        ks.get(b"a")


def test_close_database_ends_views(path):
    db = quire.open(path, create=True)
    t = db.begin(write=True)
    ks = t.keyspace(b"x", create=True)
    ks.put(b"a", b"1")
    cur = ks.cursor()
    db.close()
    assert t.ended and ks.ended
    with pytest.raises(quire.ClosedError):
        ks.get(b"a")
    with pytest.raises(quire.ClosedError):
        next(cur)
    del t, ks, cur
    gc.collect()


def test_rename(hdb):
    db = hdb
    with db.begin(write=True) as t:
        t.keyspace(b"a", create=True).put(b"k", b"1")
        t.keyspace(b"b", create=True).put(b"k", b"2")
    before = t.txn_id
    with db.begin(write=True) as t:
        a = t.keyspace(b"a")
        with pytest.raises(quire.KeyspaceExistsError) as ei:
            t.rename_keyspace(b"a", b"b")
        assert ei.value.code == -19  # QUIRE_EEXIST
        with pytest.raises(quire.KeyspaceNotFoundError):
            t.rename_keyspace(b"zz", b"c")
        t.rename_keyspace(b"a", b"c")
        assert a.name == b"c" and not a.ended  # the view stays
        assert t.keyspace(b"c") is a
        assert a.get(b"k") == b"1"
        with pytest.raises(quire.KeyspaceNotFoundError):
            t.keyspace(b"a")
        assert t.keyspaces() == [b"b", b"c"]
        # a name freed by a rename can be taken again
        t.keyspace(b"a", create=True).put(b"k", b"new")
        assert a.get(b"k") == b"1"
    assert db.keyspaces() == [b"a", b"b", b"c"]
    assert db.get(b"k", keyspace=b"c") == b"1"
    with db.begin(as_of=before) as old:
        assert old.keyspaces() == [b"a", b"b"]
        assert old.keyspace(b"a").get(b"k") == b"1"


def test_drop(hdb):
    db = hdb
    with db.begin(write=True) as t:
        ks = t.keyspace(b"x", create=True)
        for i in range(100):
            ks.put(b"%03d" % i, b"v")
        t.keyspace(b"y", create=True).put(b"k", b"y")
    before = t.txn_id
    with db.begin(write=True) as t:
        ks = t.keyspace(b"x")
        cur = ks.cursor()
        assert next(cur)[0] == b"000"
        y = t.keyspace(b"y")
        with pytest.raises(quire.KeyspaceNotFoundError):
            t.drop_keyspace(b"nope")
        assert t.drop_keyspace(b"x") == 100
        assert ks.ended and not y.ended and not t.ended
        with pytest.raises(quire.ClosedError) as ei:
            ks.get(b"000")
        assert "dropped" in str(ei.value)
        with pytest.raises(quire.ClosedError):
            next(cur)
        with pytest.raises(quire.KeyspaceNotFoundError):
            t.keyspace(b"x")
        assert t.keyspaces() == [b"y"]
        # created again: a new, empty keyspace
        x2 = t.keyspace(b"x", create=True)
        assert x2 is not ks and len(x2) == 0
        x2.put(b"000", b"again")
        assert y.get(b"k") == b"y"
    with db.begin() as r:
        assert r.keyspace(b"x").get(b"000") == b"again"
        assert len(r.keyspace(b"x")) == 1
    with db.begin(as_of=before) as old:  # AS-OF still sees it
        assert len(old.keyspace(b"x")) == 100
    with db.begin(write=True) as t:
        assert t.drop_keyspace(b"x") == 1
        assert t.drop_keyspace(b"y") == 1
    assert db.keyspaces() == []


def test_drop_forgets_kept_views(db):
    with db.begin(write=True) as t:
        t.keyspace(b"x", create=True).put(b"a", b"1")  # object dropped
        gc.collect()
        t.drop_keyspace(b"x")
        with pytest.raises(quire.KeyspaceNotFoundError):
            t.keyspace(b"x")
        x = t.keyspace(b"x", create=True)
        assert x.get(b"a") is None


def test_changes_feed(hdb):
    db = hdb
    with db.begin(write=True) as t:
        t.put(b"d", b"0")
        u = t.keyspace(b"users", create=True)
        u.put(b"1", b"ada")
        u.delete_range(b"0", b"2")
        u.put(b"2", b"bob")
    with db.begin(write=True) as t:
        t.rename_keyspace(b"users", b"people")
        t.keyspace(b"people").delete(b"2")
    with db.begin(write=True) as t:
        t.keyspace(b"people").put(b"3", b"cy")
        assert t.drop_keyspace(b"people") == 1
    seen = [(c.op, c.key, c.value, c.keyspace, c.keyspace_id)
            for c in db.changes()]
    uid = seen[1][4]
    assert uid > 0
    assert seen == [
        ("put", b"d", b"0", b"", 0),
        ("keyspace", b"users", None, b"", uid),  # created
        ("put", b"1", b"ada", b"users", uid),
        ("del_range", b"0", None, b"users", uid),
        ("put", b"2", b"bob", b"users", uid),
        ("keyspace", b"people", None, b"users", uid),  # renamed
        ("del", b"2", None, b"people", uid),
        ("put", b"3", b"cy", b"people", uid),
        ("keyspace_drop", b"people", None, b"people", uid),  # one change
    ]
    changes = list(db.changes())
    rng = changes[3]
    assert (rng.start, rng.end, rng.count) == (b"0", b"2", 1)
    drop = changes[8]
    assert (drop.start, drop.end, drop.count) == (None, None, 1)
    c = changes[1]
    assert (c.start, c.end, c.count) == (None, None, None)
    # still a 5-tuple
    seq, txn, op, key, value = changes[2]
    assert (op, key, value) == ("put", b"1", b"ada")
    assert len(changes[2]) == 5
    # a view's feed: its own keyspace's operations only
    with db.begin(as_of=changes[6].txn) as r:
        own = [(c.op, c.key) for c in r.keyspace(b"people").changes()]
        assert own == [("put", b"1"), ("del_range", b"0"), ("put", b"2"),
                       ("del", b"2")]
        assert [c.key for c in r.keyspace().changes()] == [b"d"]
        since = changes[2].seq
        assert [c.key for c in r.keyspace(b"people").changes(since)] == \
            [b"0", b"2", b"2"]
    # Database.changes(keyspace=)
    with db.begin(write=True) as t:
        t.keyspace(b"k2", create=True).put(b"a", b"1")
        t.put(b"other", b"x")
    got = [(c.key, c.keyspace) for c in db.changes(keyspace=b"k2")]
    assert got == [(b"a", b"k2")]
    last = list(db.changes())[-1].seq
    with db.begin(write=True) as t:
        t.keyspace(b"k2").put(b"b", b"2")
    got = [c.key for c in db.changes(since=last, follow=True, timeout=0.05,
                                     keyspace=b"k2")]
    assert got == [b"b"]


def test_diff(hdb):
    db = hdb
    with db.begin(write=True) as t:
        t.keyspace(b"a", create=True).put(b"k", b"1")
        t.keyspace(b"b", create=True).put(b"k", b"x")
        t.put(b"k", b"d")
    first = t.txn_id
    with db.begin(write=True) as t:
        a = t.keyspace(b"a")
        a.put(b"k", b"2")
        a.put(b"n", b"new")
        t.keyspace(b"b").delete(b"k")
    second = t.txn_id
    assert list(db.diff(first, second, keyspace=b"a")) == [
        (b"k", b"1", b"2"), (b"n", None, b"new")]
    assert list(db.diff(first, second, keyspace=b"b")) == [
        (b"k", b"x", None)]
    assert list(db.diff(first, second)) == []  # the default keyspace
    with db.begin(as_of=first) as r1, db.begin(as_of=second) as r2:
        assert [d.key for d in _quire.diff(r1.keyspace(b"a"),
                                           r2.keyspace(b"a"))] == \
            [b"k", b"n"]
        with pytest.raises(quire.Error):
            _quire.diff(r1.keyspace(b"a"), r2.keyspace(b"b"))
        with pytest.raises(TypeError):
            _quire.diff(r1, "x")


def test_persisted_after_reopen(path):
    with quire.open(path, create=True) as db:
        with db.begin(write=True) as t:
            t.keyspace(b"x", create=True).put(b"a", b"1")
    with quire.open(path) as db:
        assert db.keyspaces() == [b"x"]
        assert db.get(b"a", keyspace=b"x") == b"1"
        assert db.get(b"a") is None


def test_model(hdb):
    """Random puts, deletes, range deletes, creates, renames and drops
    across keyspaces, checked against dicts after every commit."""
    db = hdb
    rnd = random.Random(1234)
    model = {}  # name -> dict
    names = [b"a", b"b", b"c", b"d"]
    snapshot = {}
    for step in range(60):
        with db.begin(write=True) as t:
            for _ in range(rnd.randrange(1, 30)):
                r = rnd.random()
                name = rnd.choice(names)
                if r < 0.05 and name in model:
                    assert t.drop_keyspace(name) == len(model.pop(name))
                elif r < 0.1 and name in model:
                    new = rnd.choice(names)
                    if new in model:
                        with pytest.raises(quire.KeyspaceExistsError):
                            t.rename_keyspace(name, new)
                    else:
                        t.rename_keyspace(name, new)
                        model[new] = model.pop(name)
                else:
                    ks = t.keyspace(name, create=True)
                    m = model.setdefault(name, {})
                    k = b"%02d" % rnd.randrange(40)
                    if r < 0.7:
                        v = b"%d" % rnd.randrange(1000)
                        ks.put(k, v)
                        m[k] = v
                    elif r < 0.9:
                        assert ks.delete(k) == (k in m)
                        m.pop(k, None)
                    else:
                        e = b"%02d" % rnd.randrange(40)
                        lo, hi = min(k, e), max(k, e)
                        gone = [x for x in m if lo <= x < hi]
                        assert ks.delete_range(lo, hi) == len(gone)
                        for x in gone:
                            del m[x]
            if rnd.random() < 0.1:
                t.abort()
                model = {n: dict(m) for n, m in snapshot.items()}
                continue
        snapshot = {n: dict(m) for n, m in model.items()}
        with db.begin() as r:
            assert r.keyspaces() == sorted(model)
            for n, m in model.items():
                ks = r.keyspace(n)
                assert dict(ks.cursor()) == m
                assert len(ks) == len(m)


def test_view_shares_the_transaction_between_threads(db):
    """A view and its transaction are one quire transaction: while one
    thread is in a GIL-releasing call on the view (a large put), the
    transaction (and its other views) give BusyError, never a race."""
    import threading
    big = b"v" * (1 << 20)
    errors = []
    with db.begin(write=True) as t:
        ks = t.keyspace(b"big", create=True)
        other = t.keyspace(b"small", create=True)
        stop = threading.Event()

        def writer():
            try:
                for i in range(30):
                    while True:
                        try:
                            ks.put(b"%02d" % i, big)
                            break
                        except quire.BusyError:
                            pass
            except BaseException as e:  # pragma: no cover
                errors.append(e)
            finally:
                stop.set()

        th = threading.Thread(target=writer)
        th.start()
        n = 0
        while not stop.is_set():
            for call in (lambda: t.get(b"x"),
                         lambda: other.put(b"%d" % n, b"x")):
                try:
                    call()
                except quire.BusyError:
                    pass
            n += 1
        th.join()
        assert not errors
        assert len(ks) == 30
    with db.begin() as r:
        assert r.keyspace(b"big").get(b"29") == big
