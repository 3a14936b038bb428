/*
 * holdvfs.c - a VFS wrapper that stands for one process and holds chosen
 * calls (see holdvfs.h). Everything it does not watch goes straight to the
 * wrapped VFS.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "holdvfs.h"

struct holdvfs {
	qvfs vfs; /* first: the library calls us through it */
	qvfs *in;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int hold, held;  /* kinds held, kinds with a call waiting */
	uint64_t refused, slept;
	_Atomic uint64_t map_max;
	int hook_kinds;
	void (*hook)(void *ctx, int kind, int result);
	void *hook_ctx;
	char last_open[4096], last_syncdir[4096], last_rename[4096];
};

struct hfile {
	qvfs_file base;
	qvfs_file *in;
	struct holdvfs *h;
};

static void *xmalloc(size_t n)
{
	void *p = calloc(1, n);
	if (!p)
		abort(); /* test infrastructure only */
	return p;
}

/* Wait while kind is held. */
static void gate_call(struct holdvfs *h, int kind)
{
	pthread_mutex_lock(&h->mu);
	while (h->hold & kind) {
		h->held |= kind;
		pthread_cond_broadcast(&h->cv);
		pthread_cond_wait(&h->cv, &h->mu);
	}
	h->held &= ~kind;
	pthread_mutex_unlock(&h->mu);
}

static void after_call(struct holdvfs *h, int kind, int result)
{
	if (kind == HV_LOCK && result == -EAGAIN) {
		pthread_mutex_lock(&h->mu);
		h->refused++;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
	}
	if (h->hook && (h->hook_kinds & kind))
		h->hook(h->hook_ctx, kind, result);
}

#define IN(fh) (((struct hfile *)(fh))->in)
#define HV(fh) (((struct hfile *)(fh))->h)

static void note_path(struct holdvfs *h, char *to, const char *path)
{
	pthread_mutex_lock(&h->mu);
	snprintf(to, sizeof h->last_open, "%s", path);
	pthread_mutex_unlock(&h->mu);
}

static ssize_t hf_read(qvfs_file *f, void *buf, size_t n, uint64_t off)
{
	return IN(f)->ops->read(IN(f), buf, n, off);
}

static ssize_t hf_write(qvfs_file *f, const void *buf, size_t n, uint64_t off)
{
	gate_call(HV(f), HV_WRITE);
	ssize_t r = IN(f)->ops->write(IN(f), buf, n, off);
	after_call(HV(f), HV_WRITE, r < 0 ? (int)r : 0);
	return r;
}

static ssize_t hf_writev(qvfs_file *f, const struct iovec *iov, int n,
			 uint64_t off)
{
	gate_call(HV(f), HV_WRITE);
	ssize_t r = IN(f)->ops->writev(IN(f), iov, n, off);
	after_call(HV(f), HV_WRITE, r < 0 ? (int)r : 0);
	return r;
}

static int hf_sync(qvfs_file *f)
{
	gate_call(HV(f), HV_SYNC);
	int r = IN(f)->ops->sync(IN(f));
	after_call(HV(f), HV_SYNC, r);
	return r;
}

static int hf_truncate(qvfs_file *f, uint64_t size)
{
	gate_call(HV(f), HV_WRITE);
	int r = IN(f)->ops->truncate(IN(f), size);
	after_call(HV(f), HV_WRITE, r);
	return r;
}

static int hf_size(qvfs_file *f, uint64_t *size)
{
	return IN(f)->ops->size(IN(f), size);
}

static int hf_lock(qvfs_file *f, int op)
{
	int watched = op == QVFS_LOCK_TRY || op == QVFS_QUEUE_TRY;
	if (watched)
		gate_call(HV(f), HV_LOCK);
	int r = IN(f)->ops->lock(IN(f), op);
	if (watched)
		after_call(HV(f), HV_LOCK, r);
	return r;
}

static const void *hf_map(qvfs_file *f, uint64_t len)
{
	if (len > atomic_load(&HV(f)->map_max) || !IN(f)->ops->map)
		return NULL;
	return IN(f)->ops->map(IN(f), len);
}

static void hf_unneeded(qvfs_file *f, const void *p, uint64_t len)
{
	if (IN(f)->ops->unneeded)
		IN(f)->ops->unneeded(IN(f), p, len);
}

static void hf_willneed(qvfs_file *f, uint64_t off, uint64_t len)
{
	if (IN(f)->ops->willneed)
		IN(f)->ops->willneed(IN(f), off, len);
}

static int hf_identity(qvfs_file *f, uint64_t *dev, uint64_t *ino)
{
	return IN(f)->ops->identity ? IN(f)->ops->identity(IN(f), dev, ino)
				    : -ENOTSUP;
}

static int hf_attrs(qvfs_file *f, struct qvfs_attrs *a)
{
	if (!IN(f)->ops->attrs)
		return -ENOTSUP;
	gate_call(HV(f), HV_ATTR);
	int r = IN(f)->ops->attrs(IN(f), a);
	after_call(HV(f), HV_ATTR, r);
	return r;
}

static int hf_set_owner(qvfs_file *f, uint32_t uid, uint32_t gid)
{
	if (!IN(f)->ops->set_owner)
		return -ENOTSUP;
	gate_call(HV(f), HV_ATTR);
	int r = IN(f)->ops->set_owner(IN(f), uid, gid);
	after_call(HV(f), HV_ATTR, r);
	return r;
}

static int hf_set_mode(qvfs_file *f, unsigned mode)
{
	if (!IN(f)->ops->set_mode)
		return -ENOTSUP;
	gate_call(HV(f), HV_ATTR);
	int r = IN(f)->ops->set_mode(IN(f), mode);
	after_call(HV(f), HV_ATTR, r);
	return r;
}

static void hf_close(qvfs_file *f)
{
	IN(f)->ops->close(IN(f));
	free(f);
}

static const struct qvfs_file_ops hfile_ops = {
	.read = hf_read,
	.write = hf_write,
	.writev = hf_writev,
	.sync = hf_sync,
	.truncate = hf_truncate,
	.size = hf_size,
	.lock = hf_lock,
	.map = hf_map,
	.unneeded = hf_unneeded,
	.willneed = hf_willneed,
	.identity = hf_identity,
	.close = hf_close,
	.attrs = hf_attrs,
	.set_owner = hf_set_owner,
	.set_mode = hf_set_mode,
};

#define HIN(v) (((struct holdvfs *)(v))->in)

static int hv_open(qvfs *v, const char *path, int flags, unsigned mode,
		   qvfs_file **out)
{
	struct holdvfs *h = (struct holdvfs *)v;
	qvfs_file *in;
	gate_call(h, HV_OPEN);
	note_path(h, h->last_open, path);
	int e = HIN(v)->open(HIN(v), path, flags, mode, &in);
	after_call(h, HV_OPEN, e);
	if (e)
		return e;
	struct hfile *f = xmalloc(sizeof *f);
	f->base.ops = &hfile_ops;
	f->in = in;
	f->h = (struct holdvfs *)v;
	*out = &f->base;
	return 0;
}

static int hv_remove(qvfs *v, const char *path)
{
	return HIN(v)->remove(HIN(v), path);
}

static int hv_rename(qvfs *v, const char *from, const char *to,
		     int noreplace)
{
	struct holdvfs *h = (struct holdvfs *)v;
	gate_call(h, HV_RENAME);
	note_path(h, h->last_rename, to);
	int r = h->in->rename(h->in, from, to, noreplace);
	after_call(h, HV_RENAME, r);
	return r;
}

static int hv_sync_dir(qvfs *v, const char *path)
{
	struct holdvfs *h = (struct holdvfs *)v;
	gate_call(h, HV_SYNCDIR);
	note_path(h, h->last_syncdir, path);
	int r = h->in->sync_dir(h->in, path);
	after_call(h, HV_SYNCDIR, r);
	return r;
}

static int hv_resolve(qvfs *v, const char *path, char **out)
{
	struct holdvfs *h = (struct holdvfs *)v;
	if (!h->in->resolve)
		return -ENOTSUP;
	gate_call(h, HV_ATTR);
	int r = h->in->resolve(h->in, path, out);
	after_call(h, HV_ATTR, r);
	return r;
}

static uint64_t hv_now(qvfs *v)
{
	return HIN(v)->now_ns(HIN(v));
}

static uint64_t hv_mono(qvfs *v)
{
	return HIN(v)->mono_ns(HIN(v));
}

static void hv_sleep(qvfs *v, uint64_t ns)
{
	struct holdvfs *h = (struct holdvfs *)v;
	gate_call(h, HV_SLEEP);
	pthread_mutex_lock(&h->mu);
	h->slept += ns;
	pthread_mutex_unlock(&h->mu);
	h->in->sleep_ns(h->in, ns);
	after_call(h, HV_SLEEP, 0);
}

/* The hook runs with the waiting handle's mutex held: it may use other
 * handles, not that one. */
static void hv_cond_wait(qvfs *v, pthread_cond_t *cv, pthread_mutex_t *mu,
			 uint64_t ns)
{
	struct holdvfs *h = (struct holdvfs *)v;
	gate_call(h, HV_WAIT);
	h->in->cond_wait(h->in, cv, mu, ns);
	after_call(h, HV_WAIT, 0);
}

static uint64_t hv_boot(qvfs *v)
{
	return HIN(v)->boot_id(HIN(v));
}

static void hv_random(qvfs *v, void *buf, size_t n)
{
	HIN(v)->random(HIN(v), buf, n);
}

struct holdvfs *holdvfs_new(qvfs *in)
{
	struct holdvfs *h = xmalloc(sizeof *h);
	h->vfs = (qvfs){.open = hv_open,
			.remove = hv_remove,
			.rename = hv_rename,
			.sync_dir = hv_sync_dir,
			.now_ns = hv_now,
			.mono_ns = hv_mono,
			.sleep_ns = hv_sleep,
			.boot_id = hv_boot,
			.random = hv_random,
			.resolve = hv_resolve,
			.cond_wait = in->cond_wait ? hv_cond_wait : NULL};
	h->in = in;
	atomic_init(&h->map_max, UINT64_MAX);
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	return h;
}

void holdvfs_free(struct holdvfs *h)
{
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

qvfs *holdvfs_vfs(struct holdvfs *h)
{
	return &h->vfs;
}

void holdvfs_hold(struct holdvfs *h, int kinds)
{
	pthread_mutex_lock(&h->mu);
	h->hold |= kinds;
	pthread_mutex_unlock(&h->mu);
}

void holdvfs_release(struct holdvfs *h, int kinds)
{
	pthread_mutex_lock(&h->mu);
	h->hold &= ~kinds;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

void holdvfs_wait_held(struct holdvfs *h, int kinds)
{
	pthread_mutex_lock(&h->mu);
	while (!(h->held & kinds))
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

void holdvfs_wait_refused(struct holdvfs *h, uint64_t n)
{
	pthread_mutex_lock(&h->mu);
	while (h->refused < n)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

uint64_t holdvfs_refused(struct holdvfs *h)
{
	pthread_mutex_lock(&h->mu);
	uint64_t n = h->refused;
	pthread_mutex_unlock(&h->mu);
	return n;
}

uint64_t holdvfs_slept(struct holdvfs *h)
{
	pthread_mutex_lock(&h->mu);
	uint64_t n = h->slept;
	pthread_mutex_unlock(&h->mu);
	return n;
}

void holdvfs_map_limit(struct holdvfs *h, uint64_t max)
{
	atomic_store(&h->map_max, max);
}

void holdvfs_hook(struct holdvfs *h, int kinds,
		  void (*fn)(void *ctx, int kind, int result), void *ctx)
{
	h->hook_kinds = kinds;
	h->hook = fn;
	h->hook_ctx = ctx;
}

void holdvfs_last_path(struct holdvfs *h, int kind, char *buf, size_t n)
{
	const char *p = kind == HV_OPEN ? h->last_open
			: kind == HV_SYNCDIR ? h->last_syncdir
			: kind == HV_RENAME ? h->last_rename
					    : "";
	pthread_mutex_lock(&h->mu);
	snprintf(buf, n, "%s", p);
	pthread_mutex_unlock(&h->mu);
}
