#!/usr/bin/env python3
"""Read speed of the quire binding against py-lmdb, from Python.

    PYTHONPATH=build/bindings/python /usr/bin/python3 bindings/python/bench.py

Loads N entries (16-byte keys, 100-byte values, one write transaction)
into each engine, then measures, within one read transaction each:
  iterate  a full forward scan with the cursor, (key, value) tuples
  get      random gets of existing keys (a shuffled key list)
Each figure is the median of RUNS runs, with the range. Default options
for both engines, except that LMDB needs a map size that fits the data
(py-lmdb's default is 10 MiB); the loads commit with each engine's
default durability.
"""
import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

# Run as a script, this directory comes first on sys.path, and its quire/
# (the sources, without the compiled extension) would shadow the built one.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(
        os.path.abspath(__file__)):
    del sys.path[0]

import quire  # noqa: E402

try:
    import lmdb
except ImportError:  # Debian: python3-lmdb
    lmdb = None


def keys_values(n):
    keys = [b"%016d" % i for i in range(n)]
    rng = random.Random(42)
    vals = [rng.randbytes(100) for _ in range(min(n, 1024))]
    return keys, vals


class Engine:
    """The same Python code drives both: their transactions and cursors
    have one shape (begin(write=...), put, get, cursor())."""

    def load(self, keys, vals):
        with self.db.begin(write=True) as t:
            put = t.put
            nv = len(vals)
            for i, k in enumerate(keys):
                put(k, vals[i % nv])

    def iterate(self):
        n = 0
        with self.db.begin() as t:
            for _k, _v in t.cursor():
                n += 1
        return n

    def gets(self, keys):
        n = 0
        with self.db.begin() as t:
            get = t.get
            for k in keys:
                if get(k) is not None:
                    n += 1
        return n

    def close(self):
        self.db.close()


class Quire(Engine):
    name = "quire %s" % quire.LIB_VERSION

    def __init__(self, path):
        self.db = quire.open(os.path.join(path, "bench.quire"), create=True)


class Lmdb(Engine):
    name = "py-lmdb %s (LMDB %s)" % (
        getattr(lmdb, "__version__", "?"),
        ".".join(map(str, lmdb.version())) if lmdb else "?")

    def __init__(self, path):
        self.db = lmdb.open(os.path.join(path, "bench.lmdb"),
                            map_size=4 << 30)


def timed(fn, *args):
    t0 = time.perf_counter()
    n = fn(*args)
    return n, time.perf_counter() - t0


def fmt(rates):
    med = statistics.median(rates)
    return "%6.2f M/s (%.2f-%.2f)" % (med / 1e6, min(rates) / 1e6,
                                      max(rates) / 1e6)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--num", type=int, default=1000000, help="entries")
    ap.add_argument("--gets", type=int, default=1000000,
                    help="random gets per run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None, help="scratch directory")
    a = ap.parse_args()
    engines = [Quire] + ([Lmdb] if lmdb else [])
    keys, vals = keys_values(a.num)
    rng = random.Random(7)
    probe = [keys[rng.randrange(a.num)] for _ in range(a.gets)]
    print("python %s, %d entries (16-byte keys, 100-byte values), %d random "
          "gets, median of %d runs (range)" % (
              sys.version.split()[0], a.num, a.gets, a.runs))
    rows = []
    for E in engines:
        d = tempfile.mkdtemp(prefix="qbench-", dir=a.dir)
        try:
            e = E(d)
            _, load_s = timed(e.load, keys, vals)
            it, gt = [], []
            for _ in range(a.runs):
                n, s = timed(e.iterate)
                assert n == a.num, (E.name, n)
                it.append(n / s)
                n, s = timed(e.gets, probe)
                assert n == a.gets, (E.name, n)
                gt.append(n / s)
            e.close()
            rows.append((E.name, a.num / load_s, fmt(it), fmt(gt)))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    if not lmdb:
        print("(py-lmdb not installed: apt-get install python3-lmdb)")
    w = max(len(r[0]) for r in rows)
    print("%-*s  %-11s  %-24s  %-24s" % (w, "engine", "load (1 run)",
                                          "iterate", "random get"))
    for name, load, it, gt in rows:
        print("%-*s  %7.2f M/s  %-24s  %-24s" % (w, name, load / 1e6, it, gt))


if __name__ == "__main__":
    main()
