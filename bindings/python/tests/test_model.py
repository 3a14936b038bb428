"""Model-based: random operations against a dict, across commits, aborts,
reopens and compactions; every range query compared with the model."""
import os
import random

import quire

SEED = int(os.environ.get("QUIRE_SEED", "0")) or random.randrange(1 << 30)


def rand_key(rng):
    # a small key space (so overwrites and deletes hit), some shared
    # prefixes, some 0xff and 0x00 bytes
    n = rng.randrange(300)
    k = b"k%03d" % n
    if n % 7 == 0:
        k += bytes([rng.choice((0, 0xff, 0x41))])
    if n % 50 == 0:
        k = b"" if n == 0 else k
    return k


def rand_val(rng):
    r = rng.random()
    if r < 0.05:
        return b""
    if r < 0.08:
        return os.urandom(rng.randrange(1000, 5000))  # out of line
    return b"v%d" % rng.randrange(1 << 30)


def check_range(t, model, rng):
    keys = sorted(model)
    kw = {}
    if rng.random() < 0.5:
        kw["start"] = rand_key(rng)
    if rng.random() < 0.5:
        kw["end"] = rand_key(rng)
    if rng.random() < 0.3:
        kw["prefix"] = rand_key(rng)[: rng.randrange(4)]
    want = [(k, model[k]) for k in keys
            if ("start" not in kw or k >= kw["start"])
            and ("end" not in kw or k < kw["end"])
            and ("prefix" not in kw or k.startswith(kw["prefix"]))]
    rev = rng.random() < 0.5
    got = list(t.cursor(reverse=rev, **kw))
    assert got == (want[::-1] if rev else want), (kw, rev, SEED)


def test_random_ops_against_dict(tmp_path):
    rng = random.Random(SEED)
    path = str(tmp_path / "m.quire")
    db = quire.open(path, create=True, sync=False)
    model = {}
    ops = 0
    for round_ in range(120):
        if rng.random() < 0.08:  # reopen
            db.close()
            db = quire.open(path, sync=False)
        if rng.random() < 0.03:
            db.compact()
        t = db.begin(write=True)
        pending = dict(model)
        for _ in range(rng.randrange(1, 60)):
            ops += 1
            k = rand_key(rng)
            r = rng.random()
            if r < 0.55:
                v = rand_val(rng)
                t.put(k, v)
                pending[k] = v
            elif r < 0.8:
                assert t.delete(k) == (k in pending), SEED
                pending.pop(k, None)
            elif r < 0.95:
                assert t.get(k) == pending.get(k), SEED
            else:
                check_range(t, pending, rng)
        if rng.random() < 0.15:
            t.abort()
        else:
            t.commit()
            model = pending
        with db.begin() as r:
            for _ in range(3):
                check_range(r, model, rng)
            k = rand_key(rng)
            assert r.get(k) == model.get(k), SEED
    assert ops > 2000
    with db.begin() as r:
        assert dict(r.cursor()) == model, SEED
        assert r.stat()["keys"] == len(model)
    db.close()
    with quire.open(path, readonly=True) as db, db.begin() as r:
        assert dict(r.cursor()) == model, SEED
