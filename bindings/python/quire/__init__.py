"""quire: an embedded key-value database with history (Python binding).

    import quire
    with quire.open("app.quire", create=True) as db:
        with db.begin(write=True) as t:
            t.put(b"k", b"v")
        with db.begin() as t:
            print(t.get(b"k"))

The C extension quire._quire does the work; this module adds what is
simpler in Python: AS-OF reads by datetime, the commit log walk, the
followed changes feed and diffs by commit id. See README.md.
"""

import datetime as _dt

from . import _quire
from ._quire import (  # noqa: F401  (re-exported)
    Change,
    ClosedError,
    Commit,
    CommitNotFoundError,
    ConflictError,
    CorruptError,
    Delta,
    DiskFullError,
    Error,
    FatalError,
    HistoryError,
    Iterator,
    KEEP_ALL,
    KeyVersion,
    Keyspace,
    KeyspaceExistsError,
    KeyspaceNotFoundError,
    LIB_VERSION,
    MAX_KEY_SIZE,
    MAX_KEYSPACE_NAME,
    MAX_META_SIZE,
    MAX_VALUE_SIZE,
    NoSuchFileError,
    NotADatabaseError,
    BusyError,
    ReadOnlyError,
    TimeoutError,
    TooBigError,
    Transaction,
    strerror,
)

__all__ = [
    "open", "Database", "Transaction", "Keyspace", "Iterator", "Change",
    "Commit", "Delta", "KeyVersion", "Error", "HistoryError",
    "ConflictError", "CorruptError", "BusyError", "ReadOnlyError",
    "TooBigError", "NotADatabaseError", "NoSuchFileError",
    "CommitNotFoundError", "FatalError", "DiskFullError", "TimeoutError",
    "ClosedError", "KeyspaceNotFoundError", "KeyspaceExistsError",
    "KEEP_ALL", "MAX_KEY_SIZE", "MAX_VALUE_SIZE", "MAX_META_SIZE",
    "MAX_KEYSPACE_NAME", "LIB_VERSION", "strerror",
]

__version__ = LIB_VERSION

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
# The commit log is walked on one snapshot; quire keeps each entry's
# metadata until the snapshot ends, so a long walk renews it (as the
# quire tool does).
_LOG_RENEW = 4096


def _ns(when, end_of_microsecond):
    """A datetime as ns since 1970. A naive datetime is local time (as
    datetime.timestamp() takes it). A datetime names its whole microsecond:
    with end_of_microsecond the last ns of it, so that a commit's own .time
    finds that commit with AT-OR-BEFORE."""
    if not isinstance(when, _dt.datetime):
        raise TypeError("expected a datetime, not %s" % type(when).__name__)
    d = when.astimezone(_dt.timezone.utc) - _EPOCH
    ns = ((d.days * 86400 + d.seconds) * 1000000 + d.microseconds) * 1000
    if ns < 0:
        raise ValueError("datetime before 1970")
    return ns + 999 if end_of_microsecond else ns


def _view(t, keyspace):
    """t itself, or its view of the named keyspace."""
    return t if keyspace is None else t.keyspace(keyspace)


class Database(_quire.Database):
    """A database handle; thread-safe. Use quire.open()."""

    __slots__ = ()

    def begin(self, write=False, as_of=None, after=False):
        """A transaction: the latest snapshot (default), the write
        transaction (write=True), or a snapshot of an older commit: as_of an
        int txn id, or a datetime (the last commit at or before it; with
        after=True the first at or after it). Use it in a with block: the
        writer commits on a normal exit and aborts on an exception."""
        if as_of is None:
            return self._begin(write)
        if write:
            raise ValueError("a write transaction cannot be AS-OF")
        if isinstance(as_of, _dt.datetime):
            return self._begin(at_ns=_ns(as_of, not after), after=after)
        if isinstance(as_of, bool) or not isinstance(as_of, int):
            raise TypeError("as_of must be an int txn id or a datetime")
        return self._begin(at_txn=as_of)

    def stat(self):
        """Figures of the newest commit, as a dict named like the fields of
        `quire stat --json` (time is a UTC datetime here)."""
        with self.begin() as t:
            return t.stat()

    def get(self, key, default=None, keyspace=None):
        """One get in its own snapshot (use a transaction for many); with
        keyspace (a name), in that keyspace (KeyspaceNotFoundError if it
        does not exist)."""
        with self.begin() as t:
            return _view(t, keyspace).get(key, default)

    def keyspaces(self):
        """The names of the named keyspaces (bytes, in byte order) of the
        newest commit; the default keyspace is not listed."""
        with self.begin() as t:
            return t.keyspaces()

    def history(self, limit=None):
        """The commit log, newest first, as Commit records (txn, time,
        meta, time_ns, first_seq, next_seq, bytes), down to the oldest
        commit still kept (compaction drops older ones)."""
        t = self.begin()
        try:
            newest = txn = t.txn_id
            n = 0
            while limit is None or n < limit:
                if n and n % _LOG_RENEW == 0:
                    t.abort()
                    t = self.begin(as_of=newest)
                try:
                    c = t.log(txn)
                except HistoryError:
                    return
                if c is None:
                    return
                yield c
                n += 1
                if txn == 0:
                    return
                txn -= 1
        finally:
            t.abort()

    def changes(self, since=0, follow=False, timeout=None, keyspace=None):
        """Every operation with a sequence number above since, in order,
        as Change records (seq, txn, op, key, value; op 'put', 'del' or
        'del_range', value None for a delete). A range delete (one
        Transaction.delete_range or delete_prefix) is one record with the
        attributes start (also its key), end (not in the range; None: to
        the last key) and count (the keys it removed); replay it with
        delete_range(c.start, c.end). With follow=True it then waits for
        new commits, of this or any other process, and yields their
        operations too; it ends when timeout seconds pass without a new
        commit (None: never). HistoryError if operations after since were
        compacted away. Every keyspace's operations are reported (see
        Change.keyspace), and 'keyspace' / 'keyspace_drop' records for
        keyspaces named (created, renamed) and dropped; with keyspace (a
        name) only that keyspace's operations, looked up by name in each
        new snapshot (KeyspaceNotFoundError if it does not exist there)."""
        last = since
        while True:
            t = self.begin()
            try:
                feed = _view(t, keyspace).changes(last)
                for c in feed:
                    last = c.seq
                    yield c
            finally:
                t.abort()
            if not follow:
                return
            if not self.wait(last + 1, timeout):
                return

    def diff(self, a, b, keyspace=None):
        """The keys that differ between commits a and b (txn ids or
        datetimes), in key order, as Delta records (key, a, b): a and b are
        the key's values there, None where it does not exist. With keyspace
        (a name), in that keyspace, which must exist at both commits (the
        same keyspace: not one dropped and created again)."""
        ta = self.begin(as_of=a)
        try:
            tb = self.begin(as_of=b)
        except BaseException:
            ta.abort()
            raise
        try:
            yield from _quire.diff(_view(ta, keyspace), _view(tb, keyspace))
        finally:
            ta.abort()
            tb.abort()

    def key_history(self, key, keyspace=None):
        """The versions of key, newest first, as KeyVersion records (seq,
        txn, time, op, value), as far back as history is kept; with
        keyspace (a name), of the key in that keyspace."""
        with self.begin() as t:
            yield from _view(t, keyspace).key_history(key)

    def compact(self, keep_last=None, keep_since=None):
        """Compact into a fresh file. keep_last: keep the newest n commits;
        keep_since: keep every commit from this txn id (int) or time
        (datetime) on; neither: the retention policy decides. Later AS-OF
        reads of dropped commits raise HistoryError."""
        kw = {}
        if keep_last is not None:
            if keep_last < 1:
                raise ValueError("keep_last must be at least 1")
            kw["keep_last"] = keep_last
        if keep_since is not None:
            if isinstance(keep_since, _dt.datetime):
                kw["keep_since_ns"] = max(_ns(keep_since, False), 1)
            elif isinstance(keep_since, int) and not isinstance(
                    keep_since, bool):
                if keep_since < 1:
                    keep_since = 1  # 0 would mean "not asked": keep all
                kw["keep_since_txn"] = keep_since
            else:
                raise TypeError("keep_since must be a txn id or a datetime")
        self._compact(**kw)

    def set_retention(self, keep_last, keep_for=0):
        """Set the file's history retention policy (what compactions keep,
        also automatic ones): the newest keep_last commits (None: every
        commit) and those of the last keep_for seconds (a number or a
        timedelta). A new file keeps only the newest commit."""
        if keep_last is None:
            commits = KEEP_ALL
        else:
            commits = int(keep_last)
            if commits < 1:
                raise ValueError("keep_last must be at least 1 (or None)")
        if isinstance(keep_for, _dt.timedelta):
            keep_for = keep_for.total_seconds()
        if keep_for < 0:
            raise ValueError("keep_for must not be negative")
        self._set_retention(commits, int(round(keep_for * 1e9)))


def open(path, create=False, sync=True, readonly=False, busy_timeout=0,
         mmap=True, auto_compact=None, node_size=0, cache_size=0):
    """Open (create=True: create if missing) the database file at path.

    sync=False: commits do not fsync (QUIRE_NOSYNC; call db.sync()).
    readonly: never write the file. busy_timeout: seconds a write
    transaction waits for a writer in another process (None: forever;
    0: BusyError at once). auto_compact: the garbage ratio that starts a
    background compaction (default 0.4; 0: never). mmap=False reads with
    read() into a node cache of cache_size bytes."""
    return Database(path, create=create, sync=sync, readonly=readonly,
                    mmap=mmap, busy_timeout=busy_timeout,
                    auto_compact=auto_compact, node_size=node_size,
                    cache_size=cache_size)


