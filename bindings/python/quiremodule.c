/*
 * quiremodule.c - the CPython extension quire._quire: the C half of the
 * Python binding (the package quire/ adds the pieces that are easier in
 * Python: AS-OF by datetime, the followed changes feed, the commit log
 * walk). See README.md next to this file for the API.
 *
 * Ownership, the one thing that must not go wrong: quire frees a
 * transaction's memory when it ends and the handle's at quire_close(), and
 * a quire_txn pointer used after its end may even name a newer
 * transaction (quire.h, QUIRE_EINVAL). So no pointer is ever passed to
 * quire after its end: Transaction.t and Iterator.h are set to NULL the
 * moment they end, under the GIL, and every method checks them first.
 * Python objects reference their parents (iterator -> transaction ->
 * database), so a parent outlives its children; a parent that ends keeps
 * a list of its live children and ends them first (a database closing
 * aborts its transactions, a transaction ending closes its cursors),
 * because quire_close() refuses while anything is open and a cursor of an
 * ended transaction can only be closed. Keyspace views (Keyspace, a
 * TxnObject of type KsType) are children of their transaction in the same
 * way: quire ends a view with its transaction (and when its keyspace is
 * dropped), so the transaction's end, and a drop, forget the views'
 * pointers first; a view references its transaction, which therefore
 * lives as long as any view of it.
 *
 * The GIL is released around every call that may block or do I/O: open,
 * close, begin (a writer waits for the write lock), commit (fdatasync),
 * puts of large values (written to the file at once), range deletes
 * (counting a range's keys reads the tree), compact, sync, checkpoint,
 * set_retention, wait. While it is released, the object in use
 * is marked (Database.active, Transaction.busy) so that another thread
 * cannot end it or use it at the same time: a transaction belongs to one
 * thread at a time in quire, and Python threads would otherwise break that.
 * Gets and cursor steps keep the GIL: they read mapped memory and take
 * well under a microsecond, less than releasing and retaking the GIL
 * costs (README.md has the measurement).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "quire.h"

/* Puts at least this large release the GIL: values over a small threshold
 * are written to the file during the put. */
#define PUT_RELEASE_BYTES (64 * 1024)
/* quire_wait() is called in slices of this many ms so that Ctrl-C (and a
 * close from another thread) is noticed while waiting forever. */
#define WAIT_SLICE_MS 200

/* ---- errors ----------------------------------------------------------- */

static PyObject *Error, *HistoryError, *ConflictError, *CorruptError,
	*BusyError, *ReadOnlyError, *TooBigError, *NotADatabaseError,
	*NoSuchFileError, *CommitNotFoundError, *FatalError, *DiskFullError,
	*QTimeoutError, *ClosedError, *KeyspaceNotFoundError,
	*KeyspaceExistsError;

static PyObject *error_class(int rc)
{
	switch (rc) {
	case QUIRE_EHISTORY: return HistoryError;
	case QUIRE_ECONFLICT: return ConflictError;
	case QUIRE_ECORRUPT: return CorruptError;
	case QUIRE_EBUSY: return BusyError;
	case QUIRE_ERDONLY: return ReadOnlyError;
	case QUIRE_ETOOBIG: return TooBigError;
	case QUIRE_ENOTDB:
	case QUIRE_EVERSION: return NotADatabaseError;
	case QUIRE_ENOENT: return NoSuchFileError;
	case QUIRE_NOTFOUND: return CommitNotFoundError;
	case QUIRE_EFATAL: return FatalError;
	case QUIRE_ENOSPC: return DiskFullError;
	case QUIRE_ETIMEDOUT: return QTimeoutError;
	case QUIRE_EEXIST: return KeyspaceExistsError;
	default: return Error;
	}
}

/* Raise the exception for a quire return code, with quire_errmsg()'s
 * detail (it belongs to the calling thread, so this must run in the thread
 * that made the call; retaking the GIL does not change threads). The
 * exception's .code is the QUIRE_E* value. Returns NULL. */
static PyObject *raise_rc_as(int rc, PyObject *cls, PyObject *what)
{
	const char *detail = quire_errmsg();
	PyObject *msg, *exc;
	if (rc == QUIRE_ENOMEM)
		return PyErr_NoMemory();
	if (!cls)
		cls = error_class(rc);
	if (what) /* a keyspace name that was not found */
		msg = PyUnicode_FromFormat("no such keyspace: %R", what);
	else if (detail && *detail)
		msg = PyUnicode_FromFormat("%s: %s", quire_strerror(rc), detail);
	else
		msg = PyUnicode_FromString(quire_strerror(rc));
	if (!msg)
		return NULL;
	exc = PyObject_CallOneArg(cls, msg);
	Py_DECREF(msg);
	if (!exc)
		return NULL;
	PyObject *code = PyLong_FromLong(rc);
	if (!code || PyObject_SetAttrString(exc, "code", code) < 0) {
		Py_XDECREF(code);
		Py_DECREF(exc);
		return NULL;
	}
	Py_DECREF(code);
	PyErr_SetObject(cls, exc);
	Py_DECREF(exc);
	return NULL;
}

static PyObject *raise_rc(int rc)
{
	return raise_rc_as(rc, NULL, NULL);
}

/* The keyspace calls: QUIRE_NOTFOUND is "no such keyspace" (name). */
static PyObject *raise_ks_rc(int rc, PyObject *name)
{
	if (rc == QUIRE_NOTFOUND)
		return raise_rc_as(rc, KeyspaceNotFoundError, name);
	return raise_rc(rc);
}

static PyObject *raise_msg(PyObject *cls, const char *msg)
{
	PyErr_SetString(cls, msg);
	return NULL;
}

/* ---- bytes in and out ------------------------------------------------- */

/* Borrow the bytes of a key or value: bytes directly, or any contiguous
 * buffer (bytearray, memoryview). str is refused: keys are bytes and an
 * encoding is the caller's choice. Release with buf_release(). */
static int buf_get(PyObject *o, Py_buffer *b, const char *what)
{
	if (PyBytes_CheckExact(o)) {
		b->obj = NULL;
		b->buf = PyBytes_AS_STRING(o);
		b->len = PyBytes_GET_SIZE(o);
		return 0;
	}
	if (PyUnicode_Check(o) || !PyObject_CheckBuffer(o)) {
		PyErr_Format(PyExc_TypeError, "%s must be bytes, not %.100s",
			     what, Py_TYPE(o)->tp_name);
		return -1;
	}
	return PyObject_GetBuffer(o, b, PyBUF_SIMPLE);
}

static void buf_release(Py_buffer *b)
{
	if (b->obj)
		PyBuffer_Release(b);
}

static PyObject *val_bytes(const quire_val *v)
{
	return PyBytes_FromStringAndSize(v->size ? v->data : "",
					 (Py_ssize_t)v->size);
}

/* memcmp order, a prefix first */
static int keycmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

/* Commit times: UTC-aware datetimes, to the microsecond (datetime's
 * resolution); time_ns fields keep the exact value. */
static PyObject *ns_datetime(uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	if (!gmtime_r(&s, &tm))
		return raise_msg(PyExc_OverflowError, "commit time out of range");
	return PyDateTimeAPI->DateTime_FromDateAndTime(
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		tm.tm_min, tm.tm_sec, (int)(ns % 1000000000u / 1000u),
		PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType);
}

static int parse_u64(PyObject *o, uint64_t *v, const char *what)
{
	if (!PyLong_Check(o) || PyBool_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s must be an int", what);
		return -1;
	}
	unsigned long long x = PyLong_AsUnsignedLongLong(o);
	if (x == (unsigned long long)-1 && PyErr_Occurred()) {
		PyErr_Format(PyExc_ValueError, "%s must be in 0 .. 2**64-1", what);
		return -1;
	}
	*v = x;
	return 0;
}

/* ---- result records --------------------------------------------------- */

static PyTypeObject *ChangeType, *CommitType, *DeltaType, *VersionType;

/* A range delete's start, end and count come after the five fields of
 * the tuple, as attributes only, so that code unpacking a Change into five
 * names keeps working; its key is the start too, as in quire_change. */
static PyStructSequence_Field change_fields[] = {
	{"seq", "sequence number of the operation"},
	{"txn", "the commit that made it"},
	{"op", "'put', 'del' or 'del_range'"},
	{"key", "bytes; for 'del_range' the range's first key, as start"},
	{"value", "bytes put, None for a delete or a range delete"},
	{"start", "'del_range': the range's first key (b'': from the "
		  "smallest); None for other operations"},
	{"end", "'del_range': the end of the range, not in it, or None when "
		"it ran to the last key; None for other operations"},
	{"count", "'del_range' and 'keyspace_drop': how many keys it "
		  "removed; None for other operations"},
	{"keyspace", "bytes: the name of the operation's keyspace when it "
		     "was made (b'': the default keyspace); for 'keyspace' "
		     "the old name (b'' when created), for 'keyspace_drop' "
		     "the name dropped"},
	{"keyspace_id", "int: the keyspace's number (0: the default one), "
			"kept across renames, never reused"},
	{NULL, NULL}};
static PyStructSequence_Desc change_desc = {
	"quire.Change",
	"One operation of the changes feed: (seq, txn, op, key, value), and "
	"a range delete's start, end and count and the keyspace, keyspace_id "
	"as attributes.",
	change_fields, 5};

static PyStructSequence_Field commit_fields[] = {
	{"txn", "commit id"},
	{"time", "commit time, datetime (UTC)"},
	{"meta", "metadata bytes given at commit, or None"},
	{"time_ns", "commit time, ns since 1970"},
	{"first_seq", "its operations are first_seq .. next_seq - 1"},
	{"next_seq", "first sequence number after the commit"},
	{"bytes", "bytes the commit appended to the file"},
	{NULL, NULL}};
static PyStructSequence_Desc commit_desc = {
	"quire.Commit", "One commit of the commit log.", commit_fields, 7};

static PyStructSequence_Field delta_fields[] = {
	{"key", "bytes"},
	{"a", "value in the first snapshot, None if absent there"},
	{"b", "value in the second snapshot, None if absent there"},
	{NULL, NULL}};
static PyStructSequence_Desc delta_desc = {
	"quire.Delta", "One key that differs between two commits.",
	delta_fields, 3};

static PyStructSequence_Field version_fields[] = {
	{"seq", "sequence number of the operation"},
	{"txn", "the commit that made it"},
	{"time", "commit time, datetime (UTC)"},
	{"op", "'put', 'del', or 'del_range' (a range delete or a keyspace "
	       "drop removed it)"},
	{"value", "bytes put, None for a delete"},
	{NULL, NULL}};
static PyStructSequence_Desc version_desc = {
	"quire.KeyVersion", "One version of a key.", version_fields, 5};

static PyObject *str_put, *str_del, *str_del_range, *str_keyspace,
	*str_keyspace_drop;

#define U64(x) PyLong_FromUnsignedLongLong(x)

/* ---- objects ---------------------------------------------------------- */

typedef struct TxnObject TxnObject;
typedef struct IterObject IterObject;

typedef struct {
	PyObject_HEAD
	quire *db;	   /* NULL once closed */
	PyObject *path;	   /* str */
	TxnObject *txns;   /* live transactions */
	int active;	   /* calls in flight with the GIL released */
	int closing;
	PyObject *dict;	   /* for the Python subclass's attributes */
} DbObject;

/* A keyspace view whose Python object went away while its transaction
 * runs: quire has no call to end one view, so it is kept for the next
 * Transaction.keyspace() of that name instead of opening another. */
struct spare_view {
	struct spare_view *next;
	PyObject *name; /* bytes, or None: the default keyspace */
	quire_txn *v;
};

/* A transaction, or (type KsType) a keyspace view of one: the same
 * layout, so that the read/write/iteration methods serve both. A view's t
 * is the view's quire_txn, base its transaction; it is linked by prev and
 * next into base->kss rather than into the database's list. */
struct TxnObject {
	PyObject_HEAD
	DbObject *db; /* strong */
	quire_txn *t; /* NULL once ended */
	TxnObject *prev, *next;
	IterObject *iters; /* open cursors, feeds, histories, diffs */
	uint64_t id;
	int write;
	int busy; /* used with the GIL released by some thread (always the
		   * base's flag: a view and its transaction are one quire
		   * transaction) */
	TxnObject *base;	   /* a view: its transaction (strong); else NULL */
	PyObject *name;		   /* a view: bytes, or None (default keyspace) */
	TxnObject *kss;		   /* a transaction: its live views */
	struct spare_view *spares; /* a transaction: views kept for reuse */
};

/* The transaction whose busy flag covers t. */
#define OWNER(t) ((t)->base ? (t)->base : (t))

enum { IT_CURSOR, IT_CHANGES, IT_HISTORY, IT_DIFF };

struct IterObject {
	PyObject_HEAD
	int kind;
	TxnObject *txn;	 /* strong: the transaction it reads */
	TxnObject *txn2; /* strong: a diff's second snapshot */
	IterObject *prev, *next;
	void *h; /* quire handle; NULL once closed */
	int started, done, truncated, reverse;
	PyObject *lo, *hi, *prefix; /* cursor bounds (bytes or NULL) */
};

static PyTypeObject DbType, TxnType, KsType, IterType;

/* ---- iterators: list, close ------------------------------------------- */

static void iter_close(IterObject *it)
{
	if (it->h) {
		switch (it->kind) {
		case IT_CURSOR: quire_cursor_close(it->h); break;
		case IT_CHANGES: quire_changes_close(it->h); break;
		case IT_HISTORY: quire_history_close(it->h); break;
		case IT_DIFF: quire_diff_close(it->h); break;
		}
		it->h = NULL;
		if (it->prev)
			it->prev->next = it->next;
		else
			it->txn->iters = it->next;
		if (it->next)
			it->next->prev = it->prev;
		it->prev = it->next = NULL;
	}
}

static IterObject *iter_new(TxnObject *t, int kind)
{
	IterObject *it = PyObject_GC_New(IterObject, &IterType);
	if (!it)
		return NULL;
	it->kind = kind;
	Py_INCREF(t);
	it->txn = t;
	it->txn2 = NULL;
	it->prev = it->next = NULL;
	it->h = NULL;
	it->started = it->done = it->truncated = it->reverse = 0;
	it->lo = it->hi = it->prefix = NULL;
	PyObject_GC_Track(it);
	return it;
}

/* Link an opened handle into its transaction's list. */
static void iter_attach(IterObject *it, void *h)
{
	it->h = h;
	it->next = it->txn->iters;
	if (it->next)
		it->next->prev = it;
	it->txn->iters = it;
}

static void iter_dealloc(IterObject *it)
{
	PyObject_GC_UnTrack(it);
	iter_close(it);
	Py_XDECREF(it->lo);
	Py_XDECREF(it->hi);
	Py_XDECREF(it->prefix);
	Py_XDECREF(it->txn2);
	Py_XDECREF(it->txn);
	PyObject_GC_Del(it);
}

static int iter_traverse(IterObject *it, visitproc visit, void *arg)
{
	Py_VISIT(it->txn);
	Py_VISIT(it->txn2);
	return 0;
}

/* ---- transactions: end ------------------------------------------------ */

/* Detach a transaction that is about to end: close its iterators (they
 * could only fail from now on), unlink it from the database, forget the
 * pointer. Returns the pointer for the caller to commit or abort. */
static void ks_end(TxnObject *ks);
static void spares_free(TxnObject *t, PyObject *name);

static quire_txn *txn_detach(TxnObject *t)
{
	quire_txn *q = t->t;
	while (t->iters)
		iter_close(t->iters);
	/* its views end with it (quire ends them too) */
	while (t->kss)
		ks_end(t->kss);
	spares_free(t, NULL);
	if (q) {
		if (t->prev)
			t->prev->next = t->next;
		else
			t->db->txns = t->next;
		if (t->next)
			t->next->prev = t->prev;
		t->prev = t->next = NULL;
		t->t = NULL;
	}
	return q;
}

static void txn_abort_now(TxnObject *t)
{
	quire_txn *q = txn_detach(t);
	if (q)
		quire_abort(q); /* in memory only: keeps the GIL */
}

/* Check that the transaction may be used by this thread now. */
static int txn_ready(TxnObject *t)
{
	if (OWNER(t)->busy) {
		raise_msg(BusyError, "the transaction is in use by another "
				     "thread");
		return -1;
	}
	if (!t->t) {
		raise_msg(ClosedError, t->base && t->base->t
					       ? "the keyspace was dropped"
					       : "the transaction has ended");
		return -1;
	}
	return 0;
}

/* ---- keyspace views: bookkeeping -------------------------------------- */

/* Names of views: bytes, or None for the default keyspace. */
static int name_eq(PyObject *a, PyObject *b)
{
	if (a == Py_None || b == Py_None)
		return a == b;
	return PyBytes_GET_SIZE(a) == PyBytes_GET_SIZE(b) &&
	       !memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b),
		       (size_t)PyBytes_GET_SIZE(a));
}

/* End view ks (its transaction ended, or the keyspace was dropped): close
 * its iterators, unlink it, forget the pointer. The reference to the
 * transaction stays until the object goes. */
static void ks_end(TxnObject *ks)
{
	TxnObject *base = ks->base;
	while (ks->iters)
		iter_close(ks->iters);
	if (ks->t) {
		if (ks->prev)
			ks->prev->next = ks->next;
		else
			base->kss = ks->next;
		if (ks->next)
			ks->next->prev = ks->prev;
		ks->prev = ks->next = NULL;
		ks->t = NULL;
	}
}

/* Forget t's spare views of name (NULL: all of them). */
static void spares_free(TxnObject *t, PyObject *name)
{
	struct spare_view **pp = &t->spares, *s;
	while ((s = *pp) != NULL) {
		if (!name || name_eq(s->name, name)) {
			*pp = s->next;
			Py_DECREF(s->name);
			PyMem_Free(s);
		} else {
			pp = &s->next;
		}
	}
}

/* ---- database --------------------------------------------------------- */

static int db_ready(DbObject *d)
{
	if (!d->db || d->closing) {
		raise_msg(ClosedError, "the database is closed");
		return -1;
	}
	return 0;
}

static PyObject *db_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path", "create", "sync", "readonly",
				 "mmap", "busy_timeout", "auto_compact",
				 "node_size", "cache_size", NULL};
	PyObject *pathb = NULL, *busy = Py_None, *autoc = Py_None;
	int create = 0, sync = 1, rdonly = 0, mmap = 1;
	unsigned int node_size = 0;
	Py_ssize_t cache_size = 0;
	quire_options o;
	quire *q;
	int rc;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|ppppOOIn", kwlist,
					 PyUnicode_FSConverter, &pathb, &create,
					 &sync, &rdonly, &mmap, &busy, &autoc,
					 &node_size, &cache_size))
		return NULL;
	quire_options_init(&o);
	o.flags = (create ? QUIRE_CREATE : 0) | (sync ? 0 : QUIRE_NOSYNC) |
		  (rdonly ? QUIRE_RDONLY : 0) | (mmap ? 0 : QUIRE_NOMMAP);
	if (busy == Py_None) {
		o.busy_timeout_ms = -1;
	} else {
		double s = PyFloat_AsDouble(busy);
		if (s == -1.0 && PyErr_Occurred())
			goto fail;
		if (s < 0 || s > 2e6) {
			PyErr_SetString(PyExc_ValueError,
					"busy_timeout must be None or 0 .. 2e6 s");
			goto fail;
		}
		o.busy_timeout_ms = (int)(s * 1000.0 + 0.5);
	}
	if (autoc != Py_None) {
		double r = PyFloat_AsDouble(autoc);
		if (r == -1.0 && PyErr_Occurred())
			goto fail;
		if (!(r >= 0 && r < 1)) {
			PyErr_SetString(PyExc_ValueError,
					"auto_compact must be in [0, 1)");
			goto fail;
		}
		o.auto_compact_ratio = r;
	}
	if (node_size)
		o.node_size = node_size;
	if (cache_size > 0)
		o.cache_size = (size_t)cache_size;
	DbObject *d = (DbObject *)type->tp_alloc(type, 0);
	if (!d)
		goto fail;
	d->path = PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(pathb),
						    PyBytes_GET_SIZE(pathb));
	if (!d->path) {
		Py_DECREF(d);
		goto fail;
	}
	Py_BEGIN_ALLOW_THREADS
	rc = quire_open(PyBytes_AS_STRING(pathb), &o, &q);
	Py_END_ALLOW_THREADS
	Py_DECREF(pathb);
	if (rc) {
		raise_rc(rc);
		Py_DECREF(d);
		return NULL;
	}
	d->db = q;
	return (PyObject *)d;
fail:
	Py_XDECREF(pathb);
	return NULL;
}

/* End every transaction not in use by another thread. */
static void db_abort_all(DbObject *d)
{
	TxnObject *t = d->txns, *next;
	for (; t; t = next) {
		next = t->next;
		if (!t->busy)
			txn_abort_now(t);
	}
}

static PyObject *db_close(DbObject *d, PyObject *unused)
{
	quire *q;
	int rc;
	if (!d->db)
		return Py_NewRef(Py_None);
	if (d->closing)
		return raise_msg(BusyError, "the database is being closed by "
					    "another thread");
	/* New calls fail from now on; calls in flight in other threads
	 * (a writer waiting for the lock, a commit, a wait slice) finish
	 * first, and whatever they leave open is aborted. */
	d->closing = 1;
	for (;;) {
		db_abort_all(d);
		if (!d->active && !d->txns)
			break;
		Py_BEGIN_ALLOW_THREADS
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
		Py_END_ALLOW_THREADS
	}
	q = d->db;
	Py_BEGIN_ALLOW_THREADS
	rc = quire_close(q); /* may compact: see quire.h */
	Py_END_ALLOW_THREADS
	d->closing = 0;
	if (rc)
		return raise_rc(rc); /* the handle stays open */
	d->db = NULL;
	Py_RETURN_NONE;
}

static void db_dealloc(DbObject *d)
{
	PyObject_GC_UnTrack(d);
	/* Transactions reference their database, so none is left here. */
	if (d->db) {
		quire *q = d->db;
		d->db = NULL;
		Py_BEGIN_ALLOW_THREADS
		quire_close(q);
		Py_END_ALLOW_THREADS
	}
	Py_CLEAR(d->path);
	Py_CLEAR(d->dict);
	Py_TYPE(d)->tp_free((PyObject *)d);
}

static int db_traverse(DbObject *d, visitproc visit, void *arg)
{
	/* not the type: a subclass's subtype_traverse visits it */
	Py_VISIT(d->dict);
	return 0;
}

static int db_clear(DbObject *d)
{
	Py_CLEAR(d->dict);
	return 0;
}

static TxnObject *txn_wrap(DbObject *d, quire_txn *q, int write)
{
	TxnObject *t = PyObject_GC_New(TxnObject, &TxnType);
	if (!t) {
		quire_abort(q);
		return NULL;
	}
	Py_INCREF(d);
	t->db = d;
	t->t = q;
	t->iters = NULL;
	t->id = quire_txn_id(q);
	t->write = write;
	t->busy = 0;
	t->base = NULL;
	t->name = NULL;
	t->kss = NULL;
	t->spares = NULL;
	t->prev = NULL;
	t->next = d->txns;
	if (t->next)
		t->next->prev = t;
	d->txns = t;
	PyObject_GC_Track(t);
	return t;
}

/* _begin(write=False, at_txn=None, at_ns=None, after=False) */
static PyObject *db_begin(DbObject *d, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"write", "at_txn", "at_ns", "after", NULL};
	int write = 0, after = 0, rc;
	PyObject *at_txn = Py_None, *at_ns = Py_None;
	uint64_t id = 0, ns = 0;
	quire_txn *q = NULL;
	quire *db;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|pOOp", kwlist, &write,
					 &at_txn, &at_ns, &after))
		return NULL;
	if (at_txn != Py_None && parse_u64(at_txn, &id, "as_of") < 0)
		return NULL;
	if (at_ns != Py_None && parse_u64(at_ns, &ns, "as_of time") < 0)
		return NULL;
	if (write && (at_txn != Py_None || at_ns != Py_None))
		return raise_msg(PyExc_ValueError,
				 "a write transaction cannot be AS-OF");
	if (db_ready(d) < 0)
		return NULL;
	db = d->db;
	d->active++;
	Py_BEGIN_ALLOW_THREADS
	if (at_txn != Py_None)
		rc = quire_begin_at(db, id, &q);
	else if (at_ns != Py_None)
		rc = quire_begin_at_time(db, ns,
					 after ? QUIRE_AT_OR_AFTER
					       : QUIRE_AT_OR_BEFORE,
					 &q);
	else
		rc = quire_begin(db, write ? 0 : QUIRE_RDONLY, &q);
	Py_END_ALLOW_THREADS
	d->active--;
	if (rc)
		return raise_rc(rc);
	if (d->closing) { /* closed meanwhile by another thread */
		quire_abort(q);
		return raise_msg(ClosedError, "the database is closed");
	}
	return (PyObject *)txn_wrap(d, q, write);
}

/* Run a database-level call with the GIL released. */
#define DB_CALL(d, rc, call)                                                \
	do {                                                                \
		quire *db_ = (d)->db;                                       \
		(d)->active++;                                              \
		Py_BEGIN_ALLOW_THREADS                                      \
		rc = (call);                                                \
		Py_END_ALLOW_THREADS                                        \
		(d)->active--;                                              \
	} while (0)

static PyObject *db_sync(DbObject *d, PyObject *unused)
{
	int rc;
	if (db_ready(d) < 0)
		return NULL;
	DB_CALL(d, rc, quire_sync(db_));
	if (rc)
		return raise_rc(rc);
	Py_RETURN_NONE;
}

static PyObject *db_checkpoint(DbObject *d, PyObject *unused)
{
	int rc;
	if (db_ready(d) < 0)
		return NULL;
	DB_CALL(d, rc, quire_checkpoint(db_));
	if (rc)
		return raise_rc(rc);
	Py_RETURN_NONE;
}

/* _compact(keep_last=0, keep_since_txn=0, keep_since_ns=0): 0 = not asked */
static PyObject *db_compact(DbObject *d, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"keep_last", "keep_since_txn",
				 "keep_since_ns", NULL};
	unsigned long long last = 0, stxn = 0, sns = 0;
	quire_compact_options o;
	int rc;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|KKK", kwlist, &last,
					 &stxn, &sns))
		return NULL;
	if (db_ready(d) < 0)
		return NULL;
	quire_compact_options_init(&o);
	o.keep_last = last;
	o.keep_since_txn = stxn;
	o.keep_since_ns = sns;
	DB_CALL(d, rc, quire_compact(db_, &o));
	if (rc)
		return raise_rc(rc);
	Py_RETURN_NONE;
}

/* _set_retention(commits, ns) */
static PyObject *db_set_retention(DbObject *d, PyObject *args)
{
	unsigned long long commits, ns;
	quire_retention r;
	int rc;
	if (!PyArg_ParseTuple(args, "KK", &commits, &ns))
		return NULL;
	if (db_ready(d) < 0)
		return NULL;
	r.commits = commits;
	r.ns = ns;
	DB_CALL(d, rc, quire_set_retention(db_, &r));
	if (rc)
		return raise_rc(rc);
	Py_RETURN_NONE;
}

/* wait(seq, timeout=None) -> True once operation seq is committed (by any
 * process), False when timeout seconds passed first. */
static PyObject *db_wait(DbObject *d, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"seq", "timeout", NULL};
	unsigned long long seq;
	PyObject *tmo = Py_None;
	double left = -1;
	struct timespec t0, t1;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "K|O", kwlist, &seq, &tmo))
		return NULL;
	if (tmo != Py_None) {
		left = PyFloat_AsDouble(tmo);
		if (left == -1.0 && PyErr_Occurred())
			return NULL;
		if (left < 0)
			left = 0;
	}
	for (;;) {
		int slice = WAIT_SLICE_MS, rc;
		if (db_ready(d) < 0)
			return NULL;
		if (left >= 0 && left * 1000.0 < slice)
			slice = (int)(left * 1000.0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		DB_CALL(d, rc, quire_wait(db_, seq, slice));
		if (rc == 0)
			Py_RETURN_TRUE;
		if (rc != QUIRE_ETIMEDOUT)
			return raise_rc(rc);
		if (PyErr_CheckSignals() < 0)
			return NULL;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (left >= 0) {
			left -= (double)(t1.tv_sec - t0.tv_sec) +
				(double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
			if (left <= 0)
				Py_RETURN_FALSE;
		}
	}
}

static PyObject *db_enter(DbObject *d, PyObject *unused)
{
	if (db_ready(d) < 0)
		return NULL;
	return Py_NewRef(d);
}

static PyObject *db_exit(DbObject *d, PyObject *args)
{
	return db_close(d, NULL);
}

static PyObject *db_get_closed(DbObject *d, void *c)
{
	return PyBool_FromLong(d->db == NULL);
}

static PyObject *db_get_path(DbObject *d, void *c)
{
	return Py_NewRef(d->path);
}

static PyObject *db_repr(DbObject *d)
{
	return PyUnicode_FromFormat("<quire.Database %R%s>", d->path,
				    d->db ? "" : " closed");
}

static PyMethodDef db_methods[] = {
	{"close", (PyCFunction)db_close, METH_NOARGS,
	 "close(): abort open transactions and close the database."},
	{"_begin", (PyCFunction)(void (*)(void))db_begin,
	 METH_VARARGS | METH_KEYWORDS, NULL},
	{"sync", (PyCFunction)db_sync, METH_NOARGS,
	 "sync(): make every commit durable (for sync=False)."},
	{"checkpoint", (PyCFunction)db_checkpoint, METH_NOARGS,
	 "checkpoint(): fold pending operations into the tree now."},
	{"_compact", (PyCFunction)(void (*)(void))db_compact,
	 METH_VARARGS | METH_KEYWORDS, NULL},
	{"_set_retention", (PyCFunction)db_set_retention, METH_VARARGS, NULL},
	{"wait", (PyCFunction)(void (*)(void))db_wait,
	 METH_VARARGS | METH_KEYWORDS,
	 "wait(seq, timeout=None) -> bool: until operation seq is committed "
	 "by any process (True) or timeout seconds passed (False)."},
	{"__enter__", (PyCFunction)db_enter, METH_NOARGS, NULL},
	{"__exit__", (PyCFunction)db_exit, METH_VARARGS, NULL},
	{NULL, NULL, 0, NULL}};

static PyGetSetDef db_getset[] = {
	{"closed", (getter)db_get_closed, NULL, "True once closed", NULL},
	{"path", (getter)db_get_path, NULL, "the file name", NULL},
	{NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject DbType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "quire._quire.Database",
	.tp_basicsize = sizeof(DbObject),
	.tp_dealloc = (destructor)db_dealloc,
	.tp_repr = (reprfunc)db_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE |
		    Py_TPFLAGS_HAVE_GC,
	.tp_doc = "A quire database handle (use quire.open()).",
	.tp_traverse = (traverseproc)db_traverse,
	.tp_clear = (inquiry)db_clear,
	.tp_methods = db_methods,
	.tp_getset = db_getset,
	.tp_dictoffset = offsetof(DbObject, dict),
	.tp_new = db_new,
};

/* ---- transactions ----------------------------------------------------- */

static PyObject *record(PyTypeObject *type, PyObject **f, int n);

static void txn_dealloc(TxnObject *t)
{
	PyObject_GC_UnTrack(t);
	/* Iterators reference their transaction: none is left here. */
	txn_abort_now(t);
	Py_XDECREF(t->db);
	PyObject_GC_Del(t);
}

static int txn_traverse(TxnObject *t, visitproc visit, void *arg)
{
	Py_VISIT(t->db);
	return 0;
}

/* get(key, default=None) -> bytes or default */
static PyObject *txn_get(TxnObject *t, PyObject *const *args,
			 Py_ssize_t nargs)
{
	Py_buffer k;
	quire_val v;
	int rc;
	if (nargs < 1 || nargs > 2)
		return raise_msg(PyExc_TypeError,
				 "get(key, default=None) takes 1 or 2 "
				 "arguments");
	if (txn_ready(t) < 0 || buf_get(args[0], &k, "key") < 0)
		return NULL;
	rc = quire_get(t->t, k.buf, (size_t)k.len, &v);
	buf_release(&k);
	if (rc == 0)
		return val_bytes(&v);
	if (rc == QUIRE_NOTFOUND)
		return Py_NewRef(nargs == 2 ? args[1] : Py_None);
	return raise_rc(rc);
}

/* Parse (key, value?, expect_version=None) of put and delete. */
static int parse_kv(PyObject *const *args, Py_ssize_t nargs,
		    PyObject *kwnames, Py_ssize_t npos, const char *name,
		    PyObject **expect)
{
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	*expect = NULL;
	if (nargs == npos + 1 && !nkw) {
		*expect = args[npos];
	} else if (nargs != npos || nkw > 1) {
		PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments and "
			     "expect_version", name, npos);
		return -1;
	} else if (nkw) {
		if (!PyUnicode_Check(PyTuple_GET_ITEM(kwnames, 0)) ||
		    PyUnicode_CompareWithASCIIString(
			    PyTuple_GET_ITEM(kwnames, 0), "expect_version")) {
			PyErr_Format(PyExc_TypeError,
				     "%s() got an unexpected keyword argument",
				     name);
			return -1;
		}
		*expect = args[npos];
	}
	if (*expect == Py_None)
		*expect = NULL;
	return 0;
}

/* put(key, value, expect_version=None) */
static PyObject *txn_put(TxnObject *t, PyObject *const *args,
			 Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *expect;
	uint64_t seq = 0;
	Py_buffer k, v;
	int rc;
	if (parse_kv(args, nargs, kwnames, 2, "put", &expect) < 0)
		return NULL;
	if (expect && parse_u64(expect, &seq, "expect_version") < 0)
		return NULL;
	if (txn_ready(t) < 0 || buf_get(args[0], &k, "key") < 0)
		return NULL;
	if (buf_get(args[1], &v, "value") < 0) {
		buf_release(&k);
		return NULL;
	}
	if (k.len + v.len < PUT_RELEASE_BYTES) {
		rc = expect ? quire_put_if(t->t, k.buf, (size_t)k.len, v.buf,
					   (size_t)v.len, seq)
			    : quire_put(t->t, k.buf, (size_t)k.len, v.buf,
					(size_t)v.len);
	} else {
		/* A large value is written to the file now. The buffers
		 * stay valid: Py_buffer holds their exporters, and bytes
		 * are immutable. */
		quire_txn *q = t->t;
		OWNER(t)->busy = 1;
		t->db->active++;
		Py_BEGIN_ALLOW_THREADS
		rc = expect ? quire_put_if(q, k.buf, (size_t)k.len, v.buf,
					   (size_t)v.len, seq)
			    : quire_put(q, k.buf, (size_t)k.len, v.buf,
					(size_t)v.len);
		Py_END_ALLOW_THREADS
		t->db->active--;
		OWNER(t)->busy = 0;
	}
	buf_release(&k);
	buf_release(&v);
	if (rc)
		return raise_rc(rc);
	Py_RETURN_NONE;
}

/* delete(key, expect_version=None) -> True if it existed */
static PyObject *txn_delete(TxnObject *t, PyObject *const *args,
			    Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *expect;
	uint64_t seq = 0;
	Py_buffer k;
	int rc;
	if (parse_kv(args, nargs, kwnames, 1, "delete", &expect) < 0)
		return NULL;
	if (expect && parse_u64(expect, &seq, "expect_version") < 0)
		return NULL;
	if (txn_ready(t) < 0 || buf_get(args[0], &k, "key") < 0)
		return NULL;
	rc = expect ? quire_del_if(t->t, k.buf, (size_t)k.len, seq)
		    : quire_del(t->t, k.buf, (size_t)k.len);
	buf_release(&k);
	if (rc == 0)
		Py_RETURN_TRUE;
	if (rc == QUIRE_NOTFOUND)
		Py_RETURN_FALSE;
	return raise_rc(rc);
}

/* The range delete of delete_range and delete_prefix: to NULL runs to
 * the last key. Counting the keys in the range reads the tree, which for
 * a large range is worth letting other threads run meanwhile. */
static PyObject *range_impl(TxnObject *t, Py_buffer *from, Py_buffer *to,
			    int prefix)
{
	quire_txn *q = t->t;
	uint64_t n = 0;
	int rc;
	OWNER(t)->busy = 1;
	t->db->active++;
	Py_BEGIN_ALLOW_THREADS
	rc = prefix ? quire_del_prefix(q, from->buf, (size_t)from->len, &n)
		    : quire_del_range(q, from->buf, (size_t)from->len,
				      to ? to->buf : NULL,
				      to ? (size_t)to->len : 0, &n);
	Py_END_ALLOW_THREADS
	t->db->active--;
	OWNER(t)->busy = 0;
	if (rc)
		return raise_rc(rc);
	return PyLong_FromUnsignedLongLong(n);
}

/* delete_range(start=None, end=None) -> int: the keys removed */
static PyObject *txn_delete_range(TxnObject *t, PyObject *args,
				  PyObject *kw)
{
	static char *kwlist[] = {"start", "end", NULL};
	PyObject *start = Py_None, *end = Py_None, *r = NULL;
	Py_buffer a = {0}, b = {0};
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:delete_range", kwlist,
					 &start, &end))
		return NULL;
	if (txn_ready(t) < 0)
		return NULL;
	/* None: from the smallest key (the empty key, which is all keys'
	 * lower bound anyway), to the last key */
	if (start != Py_None && buf_get(start, &a, "start") < 0)
		return NULL;
	if (end == Py_None || buf_get(end, &b, "end") == 0) {
		r = range_impl(t, &a, end == Py_None ? NULL : &b, 0);
		buf_release(&b);
	}
	buf_release(&a);
	return r;
}

/* delete_prefix(prefix) -> int: the keys removed */
static PyObject *txn_delete_prefix(TxnObject *t, PyObject *prefix)
{
	Py_buffer p;
	PyObject *r;
	if (txn_ready(t) < 0 || buf_get(prefix, &p, "prefix") < 0)
		return NULL;
	r = range_impl(t, &p, NULL, 1);
	buf_release(&p);
	return r;
}

/* version(key) -> int: the sequence number that set the key's value, 0
 * if absent (for put/delete's expect_version). */
static PyObject *txn_version(TxnObject *t, PyObject *key)
{
	Py_buffer k;
	uint64_t seq = 0;
	int rc;
	if (txn_ready(t) < 0 || buf_get(key, &k, "key") < 0)
		return NULL;
	rc = quire_get_seq(t->t, k.buf, (size_t)k.len, NULL, &seq);
	buf_release(&k);
	if (rc == QUIRE_NOTFOUND)
		return PyLong_FromLong(0);
	if (rc)
		return raise_rc(rc);
	return PyLong_FromUnsignedLongLong(seq);
}

static PyObject *commit_impl(TxnObject *t, PyObject *meta)
{
	Py_buffer m = {0};
	quire_txn *q;
	DbObject *d = t->db;
	int rc;
	if (txn_ready(t) < 0)
		return NULL;
	if (meta != Py_None && buf_get(meta, &m, "meta") < 0)
		return NULL;
	q = txn_detach(t);
	d->active++;
	Py_BEGIN_ALLOW_THREADS
	rc = meta != Py_None ? quire_commit_with(q, m.buf, (size_t)m.len)
			     : quire_commit(q);
	Py_END_ALLOW_THREADS
	d->active--;
	if (meta != Py_None)
		buf_release(&m);
	if (rc)
		return raise_rc(rc);
	Py_RETURN_NONE;
}

/* commit(meta=None) */
static PyObject *txn_commit(TxnObject *t, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"meta", NULL};
	PyObject *meta = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &meta))
		return NULL;
	return commit_impl(t, meta);
}

static PyObject *txn_abort(TxnObject *t, PyObject *unused)
{
	if (t->busy)
		return raise_msg(BusyError, "the transaction is in use by "
					    "another thread");
	txn_abort_now(t);
	Py_RETURN_NONE;
}

static PyObject *txn_enter(TxnObject *t, PyObject *unused)
{
	if (txn_ready(t) < 0)
		return NULL;
	return Py_NewRef(t);
}

/* Commit on a normal exit, abort on an exception; nothing if the block
 * ended the transaction itself. */
static PyObject *txn_exit(TxnObject *t, PyObject *args)
{
	PyObject *et = PyTuple_GET_SIZE(args) ? PyTuple_GET_ITEM(args, 0)
					      : Py_None;
	if (!t->t && !t->busy)
		Py_RETURN_NONE;
	if (et != Py_None)
		return txn_abort(t, NULL);
	return commit_impl(t, Py_None);
}

/* stat() -> dict: the figures of the commit read, named as the fields of
 * `quire stat --json` (tools/quire.c). */
static PyObject *txn_stat(TxnObject *t, PyObject *unused)
{
	quire_stat st;
	PyObject *d, *v;
	int rc;
	if (txn_ready(t) < 0)
		return NULL;
	if ((rc = quire_txn_stat(t->t, &st)) != 0)
		return raise_rc(rc);
	if (!(d = PyDict_New()))
		return NULL;
#define PUT(name, expr)                                                     \
	do {                                                                \
		if (!(v = (expr)) || PyDict_SetItemString(d, name, v) < 0) { \
			Py_XDECREF(v);                                      \
			Py_DECREF(d);                                       \
			return NULL;                                        \
		}                                                           \
		Py_DECREF(v);                                               \
	} while (0)
	int all = st.retention.commits == QUIRE_KEEP_ALL;
	PUT("path", Py_NewRef(t->db->path));
	PUT("txn", U64(st.txn_id));
	PUT("time", ns_datetime(st.commit_time_ns));
	PUT("time_ns", U64(st.commit_time_ns));
	PUT("keys", U64(st.key_count));
	PUT("seq", U64(st.next_seq));
	PUT("live_bytes", U64(st.live_bytes));
	PUT("file_bytes", U64(st.file_bytes));
	PUT("garbage_ratio", PyFloat_FromDouble(st.garbage_ratio));
	PUT("oplog_bytes", U64(st.oplog_bytes));
	PUT("pending_ops", U64(st.pending_ops));
	PUT("pending_bytes", U64(st.pending_bytes));
	PUT("depth", U64(st.depth));
	PUT("node_size", U64(st.node_size));
	PUT("keep_all", PyBool_FromLong(all));
	PUT("keep_last", all ? Py_NewRef(Py_None) : U64(st.retention.commits));
	PUT("keep_for_ns", U64(st.retention.ns));
	PUT("raw_bytes", st.raw_bytes == UINT64_MAX ? Py_NewRef(Py_None)
						     : U64(st.raw_bytes));
	PUT("history_bytes", U64(st.history_bytes));
	PUT("kept_bytes", U64(st.kept_bytes));
	PUT("reclaimable_bytes", U64(st.reclaimable_bytes));
	PUT("pinned_bytes", U64(st.pinned_bytes));
	PUT("history_txn", U64(st.history_txn));
	PUT("history_seq", U64(st.history_seq));
#undef PUT
	return d;
}

/* log(txn_id) -> Commit, or None if past the snapshot's commit; raises
 * HistoryError when compacted away. */
static PyObject *txn_log(TxnObject *t, PyObject *arg)
{
	quire_log_entry e;
	uint64_t id;
	int rc;
	if (parse_u64(arg, &id, "txn") < 0 || txn_ready(t) < 0)
		return NULL;
	rc = quire_log_get(t->t, id, &e);
	if (rc == QUIRE_NOTFOUND)
		Py_RETURN_NONE;
	if (rc)
		return raise_rc(rc);
	PyObject *f[7] = {
		U64(e.txn_id),
		ns_datetime(e.time_ns),
		e.meta.size ? val_bytes(&e.meta) : Py_NewRef(Py_None),
		U64(e.time_ns),
		U64(e.first_seq),
		U64(e.next_seq),
		U64(e.bytes)};
	return record(CommitType, f, 7);
}

/* The successor of every key starting with p: p with its last byte that is
 * not 0xff incremented and the rest cut; NULL (no bound) if all are 0xff. */
static PyObject *prefix_end(PyObject *p)
{
	const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(p);
	Py_ssize_t n = PyBytes_GET_SIZE(p);
	while (n > 0 && s[n - 1] == 0xff)
		n--;
	if (n == 0)
		return NULL;
	/* a fresh object (NULL data): one-byte bytes from data are shared
	 * singletons, which must never be modified */
	PyObject *r = PyBytes_FromStringAndSize(NULL, n);
	if (r) {
		unsigned char *d = (unsigned char *)PyBytes_AS_STRING(r);
		memcpy(d, s, (size_t)n);
		d[n - 1]++;
	}
	return r;
}

static PyObject *as_bytes(PyObject *o, const char *what)
{
	Py_buffer b;
	if (o == Py_None)
		return NULL;
	if (buf_get(o, &b, what) < 0)
		return NULL;
	PyObject *r = PyBytes_FromStringAndSize(b.buf, b.len);
	buf_release(&b);
	return r;
}

static int bytes_cmp(PyObject *a, PyObject *b)
{
	return keycmp(PyBytes_AS_STRING(a), (size_t)PyBytes_GET_SIZE(a),
		      PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
}

/* cursor(prefix=None, start=None, end=None, reverse=False): an iterator of
 * (key, value) in key order (or reverse), start <= key < end, keys
 * beginning with prefix. */
static PyObject *txn_cursor(TxnObject *t, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"prefix", "start", "end", "reverse", NULL};
	PyObject *prefix = Py_None, *start = Py_None, *end = Py_None;
	int reverse = 0, rc;
	quire_cursor *c;
	IterObject *it;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOp", kwlist, &prefix,
					 &start, &end, &reverse))
		return NULL;
	if (txn_ready(t) < 0 || !(it = iter_new(t, IT_CURSOR)))
		return NULL;
	it->reverse = reverse;
	if ((prefix != Py_None && !(it->prefix = as_bytes(prefix, "prefix"))) ||
	    (start != Py_None && !(it->lo = as_bytes(start, "start"))) ||
	    (end != Py_None && !(it->hi = as_bytes(end, "end"))))
		goto fail;
	if (it->prefix) {
		/* lo = max(start, prefix), hi = min(end, prefix's end) */
		PyObject *pe = prefix_end(it->prefix);
		if (!pe && PyErr_Occurred())
			goto fail;
		if (!it->lo || bytes_cmp(it->prefix, it->lo) > 0)
			Py_XSETREF(it->lo, Py_NewRef(it->prefix));
		if (pe && (!it->hi || bytes_cmp(pe, it->hi) < 0))
			Py_XSETREF(it->hi, pe);
		else
			Py_XDECREF(pe);
	}
	if ((rc = quire_cursor_open(t->t, &c)) != 0) {
		raise_rc(rc);
		goto fail;
	}
	iter_attach(it, c);
	return (PyObject *)it;
fail:
	Py_DECREF(it);
	return NULL;
}

/* changes(since=0): the operations after since up to this snapshot. */
static PyObject *txn_changes(TxnObject *t, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"since", NULL};
	unsigned long long since = 0;
	quire_changes *f;
	IterObject *it;
	int rc;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|K", kwlist, &since))
		return NULL;
	if (txn_ready(t) < 0)
		return NULL;
	if ((rc = quire_changes_open(t->t, since, &f)) != 0)
		return raise_rc(rc);
	if (!(it = iter_new(t, IT_CHANGES))) {
		quire_changes_close(f);
		return NULL;
	}
	iter_attach(it, f);
	return (PyObject *)it;
}

/* key_history(key): the key's versions, newest first. */
static PyObject *txn_key_history(TxnObject *t, PyObject *key)
{
	quire_history *h;
	IterObject *it;
	Py_buffer k;
	int rc;
	if (txn_ready(t) < 0 || buf_get(key, &k, "key") < 0)
		return NULL;
	rc = quire_history_open(t->t, k.buf, (size_t)k.len, &h);
	buf_release(&k);
	if (rc)
		return raise_rc(rc);
	if (!(it = iter_new(t, IT_HISTORY))) {
		quire_history_close(h);
		return NULL;
	}
	iter_attach(it, h);
	return (PyObject *)it;
}

static PyObject *txn_get_id(TxnObject *t, void *c)
{
	return PyLong_FromUnsignedLongLong(t->id);
}

static PyObject *txn_get_write(TxnObject *t, void *c)
{
	return PyBool_FromLong(t->write);
}

static PyObject *txn_get_ended(TxnObject *t, void *c)
{
	return PyBool_FromLong(!t->t && !t->busy);
}

static PyObject *txn_get_db(TxnObject *t, void *c)
{
	return Py_NewRef(t->db);
}

static PyObject *txn_repr(TxnObject *t)
{
	return PyUnicode_FromFormat("<quire.Transaction %s txn=%llu%s>",
				    t->write ? "write" : "read",
				    (unsigned long long)t->id,
				    t->t ? "" : " ended");
}

/* ---- keyspaces -------------------------------------------------------- */

/* A keyspace name as bytes (a new reference), like keys: bytes or a
 * buffer, not str or None. quire checks the length. */
static PyObject *ks_name(PyObject *o)
{
	if (PyBytes_CheckExact(o))
		return Py_NewRef(o);
	if (o == Py_None)
		return raise_msg(PyExc_TypeError,
				 "keyspace name must be bytes, not None");
	return as_bytes(o, "keyspace name");
}

static TxnObject *ks_wrap(TxnObject *base, quire_txn *v, PyObject *name)
{
	TxnObject *ks = PyObject_GC_New(TxnObject, &KsType);
	if (!ks)
		return NULL; /* v ends with base */
	Py_INCREF(base->db);
	ks->db = base->db;
	ks->t = v;
	ks->iters = NULL;
	ks->id = base->id;
	ks->write = base->write;
	ks->busy = 0;
	Py_INCREF(base);
	ks->base = base;
	ks->name = Py_NewRef(name);
	ks->kss = NULL;
	ks->spares = NULL;
	ks->prev = NULL;
	ks->next = base->kss;
	if (ks->next)
		ks->next->prev = ks;
	base->kss = ks;
	PyObject_GC_Track(ks);
	return ks;
}

/* keyspace(name=None, create=False) -> Keyspace: a view of keyspace name
 * (None: the default keyspace) in this transaction. One object per name
 * while it lives; a view whose object went is reused. */
static PyObject *txn_keyspace(TxnObject *t, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"name", "create", NULL};
	PyObject *nameo = Py_None, *name, *r = NULL;
	int create = 0, rc;
	struct spare_view **pp, *s;
	TxnObject *ks;
	quire_txn *v = NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|Op:keyspace", kwlist,
					 &nameo, &create))
		return NULL;
	if (txn_ready(t) < 0)
		return NULL;
	if (create && !t->write) /* refused as quire_keyspace() refuses it,
				  * also when a view of it is at hand */
		return raise_rc(quire_keyspace(t->t, NULL, 0, QUIRE_CREATE, &v));
	if (nameo == Py_None)
		name = Py_NewRef(Py_None);
	else if (!(name = ks_name(nameo)))
		return NULL;
	for (ks = t->kss; ks; ks = ks->next)
		if (name_eq(ks->name, name)) {
			r = Py_NewRef(ks);
			goto out;
		}
	for (pp = &t->spares; (s = *pp) != NULL; pp = &s->next)
		if (name_eq(s->name, name)) {
			*pp = s->next;
			v = s->v;
			Py_DECREF(s->name);
			PyMem_Free(s);
			break;
		}
	if (!v) {
		int n = name != Py_None;
		rc = quire_keyspace(t->t, n ? PyBytes_AS_STRING(name) : NULL,
				    n ? (size_t)PyBytes_GET_SIZE(name) : 0,
				    create ? QUIRE_CREATE : 0, &v);
		if (rc) {
			raise_ks_rc(rc, name);
			goto out;
		}
	}
	r = (PyObject *)ks_wrap(t, v, name);
out:
	Py_DECREF(name);
	return r;
}

static int list_name(void *ctx, const void *name, size_t nlen)
{
	PyObject *b = PyBytes_FromStringAndSize(name, (Py_ssize_t)nlen);
	int rc = b ? PyList_Append(ctx, b) : -1;
	Py_XDECREF(b);
	return rc < 0 ? 1 : 0; /* 1: a Python error is set */
}

/* keyspaces() -> list of the named keyspaces' names, in byte order */
static PyObject *txn_keyspaces(TxnObject *t, PyObject *unused)
{
	PyObject *l;
	int rc;
	if (txn_ready(t) < 0 || !(l = PyList_New(0)))
		return NULL;
	rc = quire_keyspace_list(t->t, list_name, l);
	if (rc) {
		Py_DECREF(l);
		return rc == 1 ? NULL : raise_rc(rc);
	}
	return l;
}

/* drop_keyspace(name) -> int: the keys it held. Like a range delete it
 * may read much of the tree: the GIL is released. */
static PyObject *txn_drop_keyspace(TxnObject *t, PyObject *nameo)
{
	PyObject *name;
	quire_txn *q;
	uint64_t n = 0;
	int rc;
	if (txn_ready(t) < 0 || !(name = ks_name(nameo)))
		return NULL;
	q = t->t;
	t->busy = 1;
	t->db->active++;
	Py_BEGIN_ALLOW_THREADS
	rc = quire_keyspace_drop(q, PyBytes_AS_STRING(name),
				 (size_t)PyBytes_GET_SIZE(name), &n);
	Py_END_ALLOW_THREADS
	t->db->active--;
	t->busy = 0;
	if (rc) {
		raise_ks_rc(rc, name);
		Py_DECREF(name);
		return NULL;
	}
	/* quire ended the views of it */
	TxnObject *ks = t->kss, *next;
	for (; ks; ks = next) {
		next = ks->next;
		if (name_eq(ks->name, name))
			ks_end(ks);
	}
	spares_free(t, name);
	Py_DECREF(name);
	return PyLong_FromUnsignedLongLong(n);
}

/* rename_keyspace(name, newname): views of it stay, under the new name */
static PyObject *txn_rename_keyspace(TxnObject *t, PyObject *args)
{
	PyObject *oldo, *newo, *old = NULL, *new = NULL;
	struct spare_view *s;
	TxnObject *ks;
	int rc;
	if (!PyArg_ParseTuple(args, "OO:rename_keyspace", &oldo, &newo))
		return NULL;
	if (txn_ready(t) < 0 || !(old = ks_name(oldo)) ||
	    !(new = ks_name(newo)))
		goto fail;
	rc = quire_keyspace_rename(t->t, PyBytes_AS_STRING(old),
				   (size_t)PyBytes_GET_SIZE(old),
				   PyBytes_AS_STRING(new),
				   (size_t)PyBytes_GET_SIZE(new));
	if (rc) {
		raise_ks_rc(rc, old);
		goto fail;
	}
	for (ks = t->kss; ks; ks = ks->next)
		if (name_eq(ks->name, old))
			Py_SETREF(ks->name, Py_NewRef(new));
	for (s = t->spares; s; s = s->next)
		if (name_eq(s->name, old))
			Py_SETREF(s->name, Py_NewRef(new));
	Py_DECREF(old);
	Py_DECREF(new);
	Py_RETURN_NONE;
fail:
	Py_XDECREF(old);
	Py_XDECREF(new);
	return NULL;
}

static void ks_dealloc(TxnObject *ks)
{
	PyObject_GC_UnTrack(ks);
	/* Iterators reference their view: none is left here. */
	if (ks->t) {
		quire_txn *v = ks->t;
		struct spare_view *s = PyMem_Malloc(sizeof *s);
		ks_end(ks);
		if (s) { /* else it just waits for the transaction's end */
			s->name = Py_NewRef(ks->name);
			s->v = v;
			s->next = ks->base->spares;
			ks->base->spares = s;
		}
	}
	Py_XDECREF(ks->name);
	Py_XDECREF(ks->base);
	Py_XDECREF(ks->db);
	PyObject_GC_Del(ks);
}

static int ks_traverse(TxnObject *ks, visitproc visit, void *arg)
{
	Py_VISIT(ks->base);
	Py_VISIT(ks->db);
	return 0;
}

/* stat() -> (keys, bytes): the keyspace's keys and the bytes of their
 * keys and values, as the transaction sees it. Reads every key (O(keys)),
 * with the GIL released; len() is the count alone, O(log n). */
static PyObject *ks_stat(TxnObject *ks, PyObject *unused)
{
	uint64_t keys = 0, bytes = 0;
	quire_txn *v;
	int rc;
	if (txn_ready(ks) < 0)
		return NULL;
	v = ks->t;
	ks->base->busy = 1;
	ks->db->active++;
	Py_BEGIN_ALLOW_THREADS
	rc = quire_keyspace_stat(v, &keys, &bytes);
	Py_END_ALLOW_THREADS
	ks->db->active--;
	ks->base->busy = 0;
	if (rc)
		return raise_rc(rc);
	return Py_BuildValue("(KK)", (unsigned long long)keys,
			     (unsigned long long)bytes);
}

static Py_ssize_t ks_len(TxnObject *ks)
{
	uint64_t keys = 0;
	int rc;
	if (txn_ready(ks) < 0)
		return -1;
	if ((rc = quire_keyspace_stat(ks->t, &keys, NULL)) != 0) {
		raise_rc(rc);
		return -1;
	}
	if (keys > (uint64_t)PY_SSIZE_T_MAX) {
		PyErr_SetString(PyExc_OverflowError, "too many keys for len()");
		return -1;
	}
	return (Py_ssize_t)keys;
}

static PyObject *ks_get_name(TxnObject *ks, void *c)
{
	return Py_NewRef(ks->name);
}

static PyObject *ks_get_txn(TxnObject *ks, void *c)
{
	return Py_NewRef(ks->base);
}

static PyObject *ks_get_ended(TxnObject *ks, void *c)
{
	return PyBool_FromLong(!ks->t);
}

static PyObject *ks_repr(TxnObject *ks)
{
	if (ks->name == Py_None)
		return PyUnicode_FromFormat("<quire.Keyspace (default) of %s "
					    "txn=%llu%s>",
					    ks->write ? "write" : "read",
					    (unsigned long long)ks->id,
					    ks->t ? "" : " ended");
	return PyUnicode_FromFormat("<quire.Keyspace %R of %s txn=%llu%s>",
				    ks->name, ks->write ? "write" : "read",
				    (unsigned long long)ks->id,
				    ks->t ? "" : " ended");
}

static PyMethodDef txn_methods[] = {
	{"get", (PyCFunction)(void (*)(void))txn_get, METH_FASTCALL,
	 "get(key, default=None) -> bytes, or default if absent"},
	{"put", (PyCFunction)(void (*)(void))txn_put,
	 METH_FASTCALL | METH_KEYWORDS,
	 "put(key, value, expect_version=None); with expect_version, only "
	 "if the key is at that version (0: absent), else ConflictError"},
	{"delete", (PyCFunction)(void (*)(void))txn_delete,
	 METH_FASTCALL | METH_KEYWORDS,
	 "delete(key, expect_version=None) -> True if the key existed"},
	{"delete_range", (PyCFunction)(void (*)(void))txn_delete_range,
	 METH_VARARGS | METH_KEYWORDS,
	 "delete_range(start=None, end=None) -> int: delete every key with "
	 "start <= key < end (start None: from the first key; end None: to "
	 "the last), as one operation; returns how many keys went (0: "
	 "nothing is recorded)"},
	{"delete_prefix", (PyCFunction)txn_delete_prefix, METH_O,
	 "delete_prefix(prefix) -> int: delete every key that begins with "
	 "prefix (b'': every key), as delete_range; returns how many went"},
	{"version", (PyCFunction)txn_version, METH_O,
	 "version(key) -> int: sequence number of the key's value, 0 if "
	 "absent"},
	{"commit", (PyCFunction)(void (*)(void))txn_commit,
	 METH_VARARGS | METH_KEYWORDS,
	 "commit(meta=None): commit (with metadata bytes) and end"},
	{"abort", (PyCFunction)txn_abort, METH_NOARGS,
	 "abort(): discard and end (nothing if ended)"},
	{"cursor", (PyCFunction)(void (*)(void))txn_cursor,
	 METH_VARARGS | METH_KEYWORDS,
	 "cursor(prefix=None, start=None, end=None, reverse=False) -> "
	 "iterator of (key, value), start <= key < end"},
	{"changes", (PyCFunction)(void (*)(void))txn_changes,
	 METH_VARARGS | METH_KEYWORDS,
	 "changes(since=0) -> iterator of Change up to this snapshot"},
	{"key_history", (PyCFunction)txn_key_history, METH_O,
	 "key_history(key) -> iterator of KeyVersion, newest first"},
	{"stat", (PyCFunction)txn_stat, METH_NOARGS,
	 "stat() -> dict: figures of the commit read (quire stat --json)"},
	{"log", (PyCFunction)txn_log, METH_O,
	 "log(txn) -> Commit, or None beyond this snapshot"},
	{"keyspace", (PyCFunction)(void (*)(void))txn_keyspace,
	 METH_VARARGS | METH_KEYWORDS,
	 "keyspace(name=None, create=False) -> Keyspace: a view of keyspace "
	 "name (bytes; None: the default keyspace) in this transaction; "
	 "KeyspaceNotFoundError if it does not exist and not create"},
	{"keyspaces", (PyCFunction)txn_keyspaces, METH_NOARGS,
	 "keyspaces() -> list of the named keyspaces' names, in byte order"},
	{"drop_keyspace", (PyCFunction)txn_drop_keyspace, METH_O,
	 "drop_keyspace(name) -> int: drop the keyspace and its keys (a "
	 "write transaction); returns how many keys it held"},
	{"rename_keyspace", (PyCFunction)txn_rename_keyspace, METH_VARARGS,
	 "rename_keyspace(name, newname): KeyspaceExistsError if newname "
	 "exists; its views stay, under the new name"},
	{"__enter__", (PyCFunction)txn_enter, METH_NOARGS, NULL},
	{"__exit__", (PyCFunction)txn_exit, METH_VARARGS, NULL},
	{NULL, NULL, 0, NULL}};

static PyGetSetDef txn_getset[] = {
	{"txn_id", (getter)txn_get_id, NULL,
	 "the commit read, or the id a write will commit as", NULL},
	{"write", (getter)txn_get_write, NULL, "True for the writer", NULL},
	{"ended", (getter)txn_get_ended, NULL, "True once ended", NULL},
	{"db", (getter)txn_get_db, NULL, "the Database", NULL},
	{NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject TxnType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "quire.Transaction",
	.tp_basicsize = sizeof(TxnObject),
	.tp_dealloc = (destructor)txn_dealloc,
	.tp_repr = (reprfunc)txn_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "A read snapshot or the write transaction (Database.begin).",
	.tp_traverse = (traverseproc)txn_traverse,
	.tp_methods = txn_methods,
	.tp_getset = txn_getset,
};

static PyMethodDef ks_methods[] = {
	{"get", (PyCFunction)(void (*)(void))txn_get, METH_FASTCALL,
	 "get(key, default=None) -> bytes, or default if absent"},
	{"put", (PyCFunction)(void (*)(void))txn_put,
	 METH_FASTCALL | METH_KEYWORDS,
	 "put(key, value, expect_version=None), as Transaction.put"},
	{"delete", (PyCFunction)(void (*)(void))txn_delete,
	 METH_FASTCALL | METH_KEYWORDS,
	 "delete(key, expect_version=None) -> True if the key existed"},
	{"delete_range", (PyCFunction)(void (*)(void))txn_delete_range,
	 METH_VARARGS | METH_KEYWORDS,
	 "delete_range(start=None, end=None) -> int, in this keyspace"},
	{"delete_prefix", (PyCFunction)txn_delete_prefix, METH_O,
	 "delete_prefix(prefix) -> int, in this keyspace"},
	{"version", (PyCFunction)txn_version, METH_O,
	 "version(key) -> int: sequence number of the key's value, 0 if "
	 "absent"},
	{"cursor", (PyCFunction)(void (*)(void))txn_cursor,
	 METH_VARARGS | METH_KEYWORDS,
	 "cursor(prefix=None, start=None, end=None, reverse=False) -> "
	 "iterator of (key, value) of this keyspace"},
	{"changes", (PyCFunction)(void (*)(void))txn_changes,
	 METH_VARARGS | METH_KEYWORDS,
	 "changes(since=0) -> iterator of Change of this keyspace"},
	{"key_history", (PyCFunction)txn_key_history, METH_O,
	 "key_history(key) -> iterator of KeyVersion, newest first"},
	{"stat", (PyCFunction)ks_stat, METH_NOARGS,
	 "stat() -> (keys, bytes): its keys and their keys' and values' "
	 "bytes (reads every key; len() is the count alone)"},
	{NULL, NULL, 0, NULL}};

static PyGetSetDef ks_getset[] = {
	{"name", (getter)ks_get_name, NULL,
	 "the keyspace's name (bytes; after a rename the new one), None for "
	 "the default keyspace", NULL},
	{"txn", (getter)ks_get_txn, NULL, "the Transaction it belongs to",
	 NULL},
	{"txn_id", (getter)txn_get_id, NULL, "its transaction's txn_id", NULL},
	{"write", (getter)txn_get_write, NULL, "True in the writer", NULL},
	{"ended", (getter)ks_get_ended, NULL,
	 "True once its transaction ended or the keyspace was dropped", NULL},
	{"db", (getter)txn_get_db, NULL, "the Database", NULL},
	{NULL, NULL, NULL, NULL, NULL}};

static PyMappingMethods ks_as_mapping = {
	.mp_length = (lenfunc)ks_len,
};

static PyTypeObject KsType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "quire.Keyspace",
	.tp_basicsize = sizeof(TxnObject),
	.tp_dealloc = (destructor)ks_dealloc,
	.tp_repr = (reprfunc)ks_repr,
	.tp_as_mapping = &ks_as_mapping,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "A keyspace of a transaction (Transaction.keyspace): the "
		  "reads, writes and iterators of a transaction, in that "
		  "keyspace; no commit or abort (end the transaction).",
	.tp_traverse = (traverseproc)ks_traverse,
	.tp_methods = ks_methods,
	.tp_getset = ks_getset,
};

/* ---- iteration -------------------------------------------------------- */

static PyObject *iter_fail(IterObject *it, int rc)
{
	it->done = 1;
	iter_close(it);
	return raise_rc(rc);
}

static PyObject *iter_end(IterObject *it)
{
	it->done = 1;
	iter_close(it);
	return NULL; /* StopIteration */
}

static PyObject *cursor_next(IterObject *it)
{
	quire_cursor *c = it->h;
	quire_val k, v;
	int rc;
	if (!it->started) {
		it->started = 1;
		if (!it->reverse) {
			rc = it->lo ? quire_cursor_seek(c, PyBytes_AS_STRING(it->lo),
							(size_t)PyBytes_GET_SIZE(it->lo))
				    : quire_cursor_first(c);
		} else if (it->hi) {
			rc = quire_cursor_seek(c, PyBytes_AS_STRING(it->hi),
					       (size_t)PyBytes_GET_SIZE(it->hi));
			/* at the first key >= hi, or past the end
			 * (unpositioned, where prev moves to the last) */
			if (rc == 0 || rc == QUIRE_NOTFOUND)
				rc = quire_cursor_prev(c);
		} else {
			rc = quire_cursor_last(c);
		}
	} else {
		rc = it->reverse ? quire_cursor_prev(c) : quire_cursor_next(c);
	}
	if (rc == 0)
		rc = quire_cursor_key(c, &k);
	if (rc == QUIRE_NOTFOUND)
		return iter_end(it);
	if (rc)
		return iter_fail(it, rc);
	if (!it->reverse && it->hi &&
	    keycmp(k.data, k.size, PyBytes_AS_STRING(it->hi),
		   (size_t)PyBytes_GET_SIZE(it->hi)) >= 0)
		return iter_end(it);
	if (it->reverse && it->lo &&
	    keycmp(k.data, k.size, PyBytes_AS_STRING(it->lo),
		   (size_t)PyBytes_GET_SIZE(it->lo)) < 0)
		return iter_end(it);
	if (it->prefix &&
	    (k.size < (size_t)PyBytes_GET_SIZE(it->prefix) ||
	     memcmp(k.data, PyBytes_AS_STRING(it->prefix),
		    (size_t)PyBytes_GET_SIZE(it->prefix))))
		return iter_end(it);
	PyObject *key = val_bytes(&k);
	if (!key)
		return NULL;
	if ((rc = quire_cursor_value(c, &v)) != 0) {
		Py_DECREF(key);
		return iter_fail(it, rc);
	}
	PyObject *val = val_bytes(&v);
	if (!val) {
		Py_DECREF(key);
		return NULL;
	}
	PyObject *tup = PyTuple_New(2);
	if (!tup) {
		Py_DECREF(key);
		Py_DECREF(val);
		return NULL;
	}
	PyTuple_SET_ITEM(tup, 0, key);
	PyTuple_SET_ITEM(tup, 1, val);
	return tup;
}

/* Fill a struct sequence from n new references (any NULL: fail). */
static PyObject *record(PyTypeObject *type, PyObject **f, int n)
{
	PyObject *r = NULL;
	int i, ok = 1;
	for (i = 0; i < n; i++)
		ok &= f[i] != NULL;
	if (ok)
		r = PyStructSequence_New(type);
	if (!r) {
		for (i = 0; i < n; i++)
			Py_XDECREF(f[i]);
		return NULL;
	}
	for (i = 0; i < n; i++)
		PyStructSequence_SET_ITEM(r, i, f[i]);
	return r;
}

static PyObject *changes_next(IterObject *it)
{
	quire_change c;
	int rc = quire_changes_next(it->h, &c);
	if (rc == QUIRE_NOTFOUND)
		return iter_end(it);
	if (rc)
		return iter_fail(it, rc);
	int put = c.op == QUIRE_OP_PUT, range = c.op == QUIRE_OP_DEL_RANGE;
	PyObject *op = put				  ? str_put
		       : range				  ? str_del_range
		       : c.op == QUIRE_OP_KEYSPACE	  ? str_keyspace
		       : c.op == QUIRE_OP_KEYSPACE_DROP ? str_keyspace_drop
							  : str_del;
	PyObject *f[10] = {
		U64(c.seq),
		U64(c.txn_id),
		Py_NewRef(op),
		val_bytes(&c.key),
		put ? val_bytes(&c.value) : Py_NewRef(Py_None),
		range ? val_bytes(&c.key) : Py_NewRef(Py_None),
		range && !c.to_last ? val_bytes(&c.value) : Py_NewRef(Py_None),
		range || c.op == QUIRE_OP_KEYSPACE_DROP ? U64(c.count)
							: Py_NewRef(Py_None),
		val_bytes(&c.keyspace),
		PyLong_FromUnsignedLong(c.keyspace_id)};
	return record(ChangeType, f, 10);
}

static PyObject *history_next(IterObject *it)
{
	quire_key_version v;
	int rc = quire_history_next(it->h, &v);
	if (rc == QUIRE_NOTFOUND)
		return iter_end(it);
	if (rc == QUIRE_EHISTORY) { /* older versions compacted away */
		it->truncated = 1;
		return iter_end(it);
	}
	if (rc)
		return iter_fail(it, rc);
	int put = v.op == QUIRE_OP_PUT;
	PyObject *op = put				 ? str_put
		       : v.op == QUIRE_OP_DEL_RANGE ? str_del_range
						    : str_del;
	PyObject *f[5] = {U64(v.seq), U64(v.txn_id), ns_datetime(v.time_ns),
			  Py_NewRef(op),
			  put ? val_bytes(&v.value) : Py_NewRef(Py_None)};
	return record(VersionType, f, 5);
}

static PyObject *diff_next(IterObject *it)
{
	quire_delta d;
	int rc = quire_diff_next(it->h, &d);
	if (rc == QUIRE_NOTFOUND)
		return iter_end(it);
	if (rc)
		return iter_fail(it, rc);
	PyObject *f[3] = {val_bytes(&d.key),
			  d.in_a ? val_bytes(&d.a) : Py_NewRef(Py_None),
			  d.in_b ? val_bytes(&d.b) : Py_NewRef(Py_None)};
	return record(DeltaType, f, 3);
}

static PyObject *iter_next(IterObject *it)
{
	if (!it->h) {
		if (it->done)
			return NULL;
		return raise_msg(ClosedError, "the transaction has ended");
	}
	if (OWNER(it->txn)->busy || (it->txn2 && OWNER(it->txn2)->busy))
		return raise_msg(BusyError, "the transaction is in use by "
					    "another thread");
	switch (it->kind) {
	case IT_CURSOR: return cursor_next(it);
	case IT_CHANGES: return changes_next(it);
	case IT_HISTORY: return history_next(it);
	default: return diff_next(it);
	}
}

static PyObject *iter_close_m(IterObject *it, PyObject *unused)
{
	it->done = 1;
	iter_close(it);
	Py_RETURN_NONE;
}

static PyObject *iter_get_truncated(IterObject *it, void *c)
{
	return PyBool_FromLong(it->truncated);
}

static PyMethodDef iter_methods[] = {
	{"close", (PyCFunction)iter_close_m, METH_NOARGS,
	 "close(): release the iterator now"},
	{NULL, NULL, 0, NULL}};

static PyGetSetDef iter_getset[] = {
	{"truncated", (getter)iter_get_truncated, NULL,
	 "key_history: True if older versions were compacted away", NULL},
	{NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject IterType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "quire.Iterator",
	.tp_basicsize = sizeof(IterObject),
	.tp_dealloc = (destructor)iter_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "A cursor, changes feed, key history or diff.",
	.tp_traverse = (traverseproc)iter_traverse,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)iter_next,
	.tp_methods = iter_methods,
	.tp_getset = iter_getset,
};

/* ---- module ----------------------------------------------------------- */

/* diff(a, b): the keys that differ between two snapshots of one file, in
 * key order, as Delta(key, a, b). */
static PyObject *mod_diff(PyObject *m, PyObject *args)
{
	TxnObject *a, *b;
	quire_diff *d;
	IterObject *it;
	int rc;
	if (!PyArg_ParseTuple(args, "OO", &a, &b))
		return NULL;
	if ((Py_TYPE(a) != &TxnType && Py_TYPE(a) != &KsType) ||
	    (Py_TYPE(b) != &TxnType && Py_TYPE(b) != &KsType))
		return raise_msg(PyExc_TypeError, "diff() takes two "
						  "Transactions or two "
						  "Keyspaces");
	if (txn_ready(a) < 0 || txn_ready(b) < 0)
		return NULL;
	if ((rc = quire_diff_open(a->t, b->t, &d)) != 0)
		return raise_rc(rc);
	if (!(it = iter_new(a, IT_DIFF))) {
		quire_diff_close(d);
		return NULL;
	}
	Py_INCREF(b);
	it->txn2 = b;
	iter_attach(it, d);
	return (PyObject *)it;
}

static PyObject *mod_strerror(PyObject *m, PyObject *arg)
{
	long c = PyLong_AsLong(arg);
	if (c == -1 && PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(quire_strerror((int)c));
}

static PyMethodDef mod_methods[] = {
	{"diff", (PyCFunction)mod_diff, METH_VARARGS,
	 "diff(a, b) -> iterator of Delta between two transactions (or two "
	 "views of one keyspace)"},
	{"strerror", (PyCFunction)mod_strerror, METH_O,
	 "strerror(code) -> str"},
	{NULL, NULL, 0, NULL}};

static struct PyModuleDef quire_module = {
	PyModuleDef_HEAD_INIT, "quire._quire",
	"C half of the quire binding (import quire instead).", -1,
	mod_methods, NULL, NULL, NULL, NULL};

static PyObject *new_error(PyObject *m, const char *name, PyObject *base,
			   PyObject *base2, const char *doc)
{
	char full[64];
	PyObject *bases = base2 ? PyTuple_Pack(2, base, base2)
				: PyTuple_Pack(1, base);
	/* .code: the QUIRE_E* value; None for the binding's own errors */
	PyObject *dict = Py_BuildValue("{sO}", "code", Py_None);
	if (!bases || !dict) {
		Py_XDECREF(bases);
		Py_XDECREF(dict);
		return NULL;
	}
	snprintf(full, sizeof full, "quire.%s", name);
	PyObject *e = PyErr_NewExceptionWithDoc(full, doc, bases, dict);
	Py_DECREF(bases);
	Py_DECREF(dict);
	if (e && PyModule_AddObjectRef(m, name, e) < 0)
		Py_CLEAR(e);
	return e;
}

PyMODINIT_FUNC PyInit__quire(void);

PyMODINIT_FUNC PyInit__quire(void)
{
	PyObject *m;
	PyDateTime_IMPORT;
	if (!PyDateTimeAPI)
		return NULL;
	if (PyType_Ready(&DbType) < 0 || PyType_Ready(&TxnType) < 0 ||
	    PyType_Ready(&KsType) < 0 || PyType_Ready(&IterType) < 0)
		return NULL;
	if (!(ChangeType = PyStructSequence_NewType(&change_desc)) ||
	    !(CommitType = PyStructSequence_NewType(&commit_desc)) ||
	    !(DeltaType = PyStructSequence_NewType(&delta_desc)) ||
	    !(VersionType = PyStructSequence_NewType(&version_desc)))
		return NULL;
	if (!(str_put = PyUnicode_InternFromString("put")) ||
	    !(str_del = PyUnicode_InternFromString("del")) ||
	    !(str_del_range = PyUnicode_InternFromString("del_range")) ||
	    !(str_keyspace = PyUnicode_InternFromString("keyspace")) ||
	    !(str_keyspace_drop = PyUnicode_InternFromString("keyspace_drop")))
		return NULL;
	if (!(m = PyModule_Create(&quire_module)))
		return NULL;
	if (PyModule_AddObjectRef(m, "Database", (PyObject *)&DbType) < 0 ||
	    PyModule_AddObjectRef(m, "Transaction", (PyObject *)&TxnType) < 0 ||
	    PyModule_AddObjectRef(m, "Keyspace", (PyObject *)&KsType) < 0 ||
	    PyModule_AddObjectRef(m, "Iterator", (PyObject *)&IterType) < 0 ||
	    PyModule_AddObjectRef(m, "Change", (PyObject *)ChangeType) < 0 ||
	    PyModule_AddObjectRef(m, "Commit", (PyObject *)CommitType) < 0 ||
	    PyModule_AddObjectRef(m, "Delta", (PyObject *)DeltaType) < 0 ||
	    PyModule_AddObjectRef(m, "KeyVersion", (PyObject *)VersionType) < 0)
		goto fail;
	if (!(Error = new_error(m, "Error", PyExc_Exception, NULL,
				"Base of quire's errors; .code is the "
				"QUIRE_E* value.")) ||
	    !(HistoryError = new_error(m, "HistoryError", Error, NULL,
				       "The history asked for was compacted "
				       "away (QUIRE_EHISTORY).")) ||
	    !(ConflictError = new_error(m, "ConflictError", Error, NULL,
					"A conditional put or delete found "
					"another version (QUIRE_ECONFLICT).")) ||
	    !(CorruptError = new_error(m, "CorruptError", Error, NULL,
				       "A checksum or structural check failed "
				       "(QUIRE_ECORRUPT).")) ||
	    !(BusyError = new_error(m, "BusyError", Error, NULL,
				    "Another writer holds the lock, or the "
				    "object is in use (QUIRE_EBUSY).")) ||
	    !(ReadOnlyError = new_error(m, "ReadOnlyError", Error, NULL,
					"A write on a read-only database "
					"(QUIRE_ERDONLY).")) ||
	    !(TooBigError = new_error(m, "TooBigError", Error, PyExc_ValueError,
				      "A key, value or metadata over the "
				      "limit (QUIRE_ETOOBIG).")) ||
	    !(NotADatabaseError = new_error(m, "NotADatabaseError", Error, NULL,
					    "Not a quire file, or an "
					    "incompatible format "
					    "(QUIRE_ENOTDB, QUIRE_EVERSION).")) ||
	    !(NoSuchFileError = new_error(m, "NoSuchFileError", Error,
					  PyExc_FileNotFoundError,
					  "The file does not exist and create "
					  "was not given (QUIRE_ENOENT).")) ||
	    !(CommitNotFoundError = new_error(m, "CommitNotFoundError", Error,
					      PyExc_LookupError,
					      "No such commit (yet) for an "
					      "AS-OF read.")) ||
	    !(FatalError = new_error(m, "FatalError", Error, NULL,
				     "An fsync failed: reopen the database "
				     "(QUIRE_EFATAL).")) ||
	    !(DiskFullError = new_error(m, "DiskFullError", Error, NULL,
					"The disk is full (QUIRE_ENOSPC).")) ||
	    !(QTimeoutError = new_error(m, "TimeoutError", Error,
					PyExc_TimeoutError,
					"A wait ran out of time "
					"(QUIRE_ETIMEDOUT).")) ||
	    !(ClosedError = new_error(m, "ClosedError", Error, NULL,
				      "The database was closed or the "
				      "transaction ended.")) ||
	    !(KeyspaceNotFoundError = new_error(
		      m, "KeyspaceNotFoundError", Error, PyExc_LookupError,
		      "No keyspace of that name (QUIRE_NOTFOUND from a "
		      "keyspace call).")) ||
	    !(KeyspaceExistsError = new_error(m, "KeyspaceExistsError", Error,
					      NULL,
					      "A keyspace of the new name "
					      "exists (QUIRE_EEXIST).")))
		goto fail;
	if (PyModule_AddStringConstant(m, "LIB_VERSION",
				       quire_version(NULL, NULL, NULL)) < 0 ||
	    PyModule_AddObject(m, "KEEP_ALL",
			       PyLong_FromUnsignedLongLong(QUIRE_KEEP_ALL)) < 0 ||
	    PyModule_AddIntConstant(m, "MAX_KEY_SIZE", QUIRE_MAX_KEY_SIZE) < 0 ||
	    PyModule_AddObject(m, "MAX_VALUE_SIZE",
			       PyLong_FromSize_t(QUIRE_MAX_VALUE_SIZE)) < 0 ||
	    PyModule_AddIntConstant(m, "MAX_META_SIZE", QUIRE_MAX_META_SIZE) < 0 ||
	    PyModule_AddIntConstant(m, "MAX_KEYSPACE_NAME",
				    QUIRE_MAX_KEYSPACE_NAME) < 0)
		goto fail;
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
