/*
 * memvfs.c - in-memory VFS with fault injection and crash images
 * (see memvfs.h). One recursive mutex makes every entry point safe from
 * threads; its clocks move only when the library sleeps or naps.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "memvfs.h"

struct op {
	int trunc;      /* 1: truncate to off; 0: write len bytes at off */
	uint64_t off;
	size_t len;
	uint8_t *data;
};

struct buf {
	uint8_t *p;
	size_t size, cap;
	int fixed; /* p is a reservation of cap bytes that never moves */
};

/* What a file's cache (its mapping) can grow to. */
#define MAP_RESERVE ((size_t)1 << 30)

struct mfile {
	char *path;
	struct buf cache, disk;
	struct op *ops;
	size_t nops, capops;
	void *lock_owner, *queue_owner;
	int dir_durable;  /* its directory entry survives a power cut */
	int opens;
	struct mfile *next_orphan; /* removed or renamed over while open */
	/* Renamed over a file whose entry was durable: until the directory
	 * is synced a power cut may undo the rename, bringing that file's
	 * durable bytes back under this name. */
	int has_shadow;
	struct buf shadow;
	struct qvfs_attrs shadow_attrs;
	struct qvfs_attrs attrs;
};

struct mlink {
	char *from, *to;
};

struct mhandle {
	qvfs_file base;
	struct memvfs *m;
	struct mfile *f;
	int rdonly;
};

struct plan {
	int kinds;
	uint64_t n, seen;
	int err, persist, shortio;
};

struct memvfs {
	qvfs vfs;  /* first: the library calls us through it */
	struct mfile **files;
	size_t nfiles;
	struct mfile *orphans; /* unlinked, freed when their last handle is */
	uint64_t counts[9];
	struct mlink *links;
	size_t nlinks;
	uint32_t uid, gid; /* who the VFS acts as */
	struct plan fault, crash;
	int crashed;
	uint64_t boot, clock, clock_step, rng;
	uint64_t mono;      /* the monotonic clock */
	uint64_t wait_real; /* how long a nap may wait for real */
	pthread_mutex_t mu; /* recursive: entry points call each other */
};

static pthread_mutex_t *lock_vfs(struct memvfs *m)
{
	pthread_mutex_lock(&m->mu);
	return &m->mu;
}

static void unlock_vfs(pthread_mutex_t **mu)
{
	pthread_mutex_unlock(*mu);
}

/* The rest of the function runs under m's mutex, whichever way it
 * returns. */
#define LOCKED(m)                                                            \
	pthread_mutex_t *locked_ __attribute__((cleanup(unlock_vfs))) =       \
		lock_vfs(m)

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		abort(); /* test infrastructure only */
	return q;
}

static void buf_reserve(struct buf *b, size_t n)
{
	if (b->fixed && n > b->cap)
		abort(); /* a test file larger than MAP_RESERVE */
	if (n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < n)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
}

static void buf_resize(struct buf *b, size_t n)
{
	buf_reserve(b, n);
	if (n > b->size)
		memset(b->p + b->size, 0, n - b->size);
	b->size = n;
}

static void buf_write(struct buf *b, const void *p, size_t n, uint64_t off)
{
	if (!n)
		return;
	if (off + n > b->size)
		buf_resize(b, (size_t)off + n);
	memcpy(b->p + off, p, n);
}

static void buf_copy(struct buf *dst, const struct buf *src)
{
	buf_reserve(dst, src->size);
	if (src->size)
		memcpy(dst->p, src->p, src->size);
	dst->size = src->size;
}

static void ops_clear(struct mfile *f)
{
	for (size_t i = 0; i < f->nops; i++)
		free(f->ops[i].data);
	f->nops = 0;
}

static void ops_add(struct mfile *f, int trunc, uint64_t off, const void *p,
		    size_t n)
{
	if (f->nops == f->capops) {
		f->capops = f->capops ? f->capops * 2 : 16;
		f->ops = xrealloc(f->ops, f->capops * sizeof *f->ops);
	}
	struct op *o = &f->ops[f->nops++];
	*o = (struct op){.trunc = trunc, .off = off, .len = n};
	if (n) {
		o->data = xrealloc(NULL, n);
		memcpy(o->data, p, n);
	}
}

/* Count the call and apply the fault and crash plans. Returns 0, -errno,
 * or 1 when the transfer should be cut short. */
static int hook(struct memvfs *m, int kind)
{
	for (int i = 0; i < 9; i++)
		if (kind & (1 << i))
			m->counts[i]++;
	if (m->crashed)
		return -EIO;
	if ((m->crash.kinds & kind) && ++m->crash.seen == m->crash.n) {
		m->crashed = 1;
		return -EIO;
	}
	struct plan *p = &m->fault;
	if ((p->kinds & kind) &&
	    (++p->seen == p->n || (p->persist && p->seen > p->n)))
		return p->shortio ? 1 : -p->err;
	return 0;
}

static ssize_t mh_read(qvfs_file *fh, void *buf, size_t n, uint64_t off)
{
	struct mhandle *h = (struct mhandle *)fh;
	LOCKED(h->m);
	int e = hook(h->m, MV_READ);
	if (e < 0)
		return e;
	struct buf *b = &h->f->cache;
	if (off >= b->size)
		return 0;
	size_t k = b->size - (size_t)off < n ? b->size - (size_t)off : n;
	if (e == 1 && k > 1)
		k /= 2;
	memcpy(buf, b->p + off, k);
	return (ssize_t)k;
}

static ssize_t mh_write(qvfs_file *fh, const void *buf, size_t n, uint64_t off)
{
	struct mhandle *h = (struct mhandle *)fh;
	LOCKED(h->m);
	int e = hook(h->m, MV_WRITE);
	if (e < 0)
		return e;
	if (h->rdonly)
		return -EBADF;
	if (e == 1 && n > 1)
		n /= 2;
	buf_write(&h->f->cache, buf, n, off);
	ops_add(h->f, 0, off, buf, n);
	return (ssize_t)n;
}

/* One call, one pending operation, like a single pwritev. */
static ssize_t mh_writev(qvfs_file *fh, const struct iovec *iov, int n,
			 uint64_t off)
{
	size_t total = 0, done = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	uint8_t *flat = xrealloc(NULL, total);
	for (int i = 0; i < n; i++) {
		memcpy(flat + done, iov[i].iov_base, iov[i].iov_len);
		done += iov[i].iov_len;
	}
	ssize_t r = mh_write(fh, flat, total, off);
	free(flat);
	return r;
}

static int mh_sync(qvfs_file *fh)
{
	struct mhandle *h = (struct mhandle *)fh;
	LOCKED(h->m);
	int e = hook(h->m, MV_SYNC);
	if (e < 0)
		return e;
	buf_copy(&h->f->disk, &h->f->cache);
	ops_clear(h->f);
	return 0;
}

static int mh_truncate(qvfs_file *fh, uint64_t size)
{
	struct mhandle *h = (struct mhandle *)fh;
	LOCKED(h->m);
	int e = hook(h->m, MV_TRUNC);
	if (e < 0)
		return e;
	if (h->rdonly)
		return -EBADF;
	buf_resize(&h->f->cache, (size_t)size);
	ops_add(h->f, 1, size, NULL, 0);
	return 0;
}

static int mh_size(qvfs_file *fh, uint64_t *size)
{
	struct mhandle *h = (struct mhandle *)fh;
	LOCKED(h->m);
	int e = hook(h->m, MV_SIZE);
	if (e < 0)
		return e;
	*size = h->f->cache.size;
	return 0;
}

static int mh_lock(qvfs_file *fh, int op)
{
	struct mhandle *h = (struct mhandle *)fh;
	LOCKED(h->m);
	void **owner = op == QVFS_QUEUE_TRY || op == QVFS_QUEUE_UNLOCK
			       ? &h->f->queue_owner
			       : &h->f->lock_owner;
	if (op == QVFS_UNLOCK || op == QVFS_QUEUE_UNLOCK) {
		if (*owner == h) /* never fails, like closing a descriptor */
			*owner = NULL;
		return 0;
	}
	int e = hook(h->m, MV_LOCK);
	if (e < 0)
		return e;
	if (*owner && *owner != h)
		return -EAGAIN;
	*owner = h;
	return 0;
}

static int mh_identity(qvfs_file *fh, uint64_t *dev, uint64_t *ino)
{
	struct mhandle *h = (struct mhandle *)fh;
	*dev = (uint64_t)(uintptr_t)h->m;
	*ino = (uint64_t)(uintptr_t)h->f;
	return 0;
}

static int mh_attrs(qvfs_file *fh, struct qvfs_attrs *a)
{
	struct mhandle *h = (struct mhandle *)fh;
	LOCKED(h->m);
	int e = hook(h->m, MV_ATTR);
	if (e < 0)
		return e;
	*a = h->f->attrs;
	return 0;
}

static int mh_set_owner(qvfs_file *fh, uint32_t uid, uint32_t gid)
{
	struct mhandle *h = (struct mhandle *)fh;
	struct memvfs *m = h->m;
	LOCKED(m);
	int e = hook(m, MV_ATTR);
	if (e < 0)
		return e;
	if (m->uid && (h->f->attrs.uid != m->uid || uid != m->uid ||
		       gid != m->gid))
		return -EPERM;
	h->f->attrs.uid = uid;
	h->f->attrs.gid = gid;
	h->f->attrs.mode &= ~06000u; /* as Linux does for a regular file */
	return 0;
}

static int mh_set_mode(qvfs_file *fh, unsigned mode)
{
	struct mhandle *h = (struct mhandle *)fh;
	struct memvfs *m = h->m;
	LOCKED(m);
	int e = hook(m, MV_ATTR);
	if (e < 0)
		return e;
	if (m->uid && h->f->attrs.uid != m->uid)
		return -EPERM;
	if (m->uid && h->f->attrs.gid != m->gid)
		mode &= ~02000u; /* not a member of the group */
	h->f->attrs.mode = mode & 07777;
	return 0;
}

static void free_file(struct mfile *f);
static struct mfile *find_orphan(struct memvfs *m, struct mfile *f)
{
	struct mfile *o = m->orphans;
	while (o && o != f)
		o = o->next_orphan;
	return o;
}

static void mh_close(qvfs_file *fh)
{
	struct mhandle *h = (struct mhandle *)fh;
	LOCKED(h->m);
	if (h->f->lock_owner == h)
		h->f->lock_owner = NULL;
	if (h->f->queue_owner == h)
		h->f->queue_owner = NULL;
	struct mfile *f = h->f;
	struct memvfs *m = h->m;
	f->opens--;
	free(h);
	if (f->opens || find_orphan(m, f) == NULL)
		return;
	struct mfile **p = &m->orphans; /* its last handle: now free it */
	while (*p != f)
		p = &(*p)->next_orphan;
	*p = f->next_orphan;
	free_file(f);
}

/* The file's cache itself: it follows every write at once. */
static const void *mh_map(qvfs_file *fh, uint64_t len)
{
	struct mhandle *h = (struct mhandle *)fh;
	return len <= MAP_RESERVE ? h->f->cache.p : NULL;
}

static const struct qvfs_file_ops mh_ops = {
	.read = mh_read,
	.write = mh_write,
	.writev = mh_writev,
	.sync = mh_sync,
	.truncate = mh_truncate,
	.size = mh_size,
	.lock = mh_lock,
	.map = mh_map,
	.identity = mh_identity,
	.close = mh_close,
	.attrs = mh_attrs,
	.set_owner = mh_set_owner,
	.set_mode = mh_set_mode,
};

static struct mfile *find(struct memvfs *m, const char *path, size_t *idx)
{
	for (size_t i = 0; i < m->nfiles; i++)
		if (strcmp(m->files[i]->path, path) == 0) {
			if (idx)
				*idx = i;
			return m->files[i];
		}
	return NULL;
}

static struct mlink *find_link(struct memvfs *m, const char *path)
{
	for (size_t i = 0; i < m->nlinks; i++)
		if (strcmp(m->links[i].from, path) == 0)
			return &m->links[i];
	return NULL;
}

static void drop_link(struct memvfs *m, struct mlink *l)
{
	free(l->from);
	free(l->to);
	*l = m->links[--m->nlinks];
}

/* path with its links followed (at most 8, as a loop guard): a pointer
 * into the link table or path itself. */
static const char *follow(struct memvfs *m, const char *path)
{
	struct mlink *l;
	for (int i = 0; i < 8 && (l = find_link(m, path)) != NULL; i++)
		path = l->to;
	return path;
}

static struct mfile *add_file(struct memvfs *m, const char *path)
{
	struct mfile *f = xrealloc(NULL, sizeof *f);
	memset(f, 0, sizeof *f);
	/* the cache is what a mapping shows: it must never move */
	f->cache.p = mmap(NULL, MAP_RESERVE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (f->cache.p == MAP_FAILED)
		abort();
	f->cache.cap = MAP_RESERVE;
	f->cache.fixed = 1;
	f->path = strdup(path);
	f->attrs = (struct qvfs_attrs){.mode = 0644, .uid = m->uid,
				       .gid = m->gid, .nlink = 1};
	m->files = xrealloc(m->files, (m->nfiles + 1) * sizeof *m->files);
	m->files[m->nfiles++] = f;
	return f;
}

static void free_file(struct mfile *f)
{
	ops_clear(f);
	free(f->ops);
	munmap(f->cache.p, MAP_RESERVE);
	free(f->disk.p);
	free(f->shadow.p);
	free(f->path);
	free(f);
}

/* Unlink file i: an open file lives on, nameless, like a POSIX file. */
static void drop_file(struct memvfs *m, size_t i)
{
	struct mfile *f = m->files[i];
	m->files[i] = m->files[--m->nfiles];
	if (f->opens) {
		f->next_orphan = m->orphans;
		m->orphans = f;
	} else {
		free_file(f);
	}
}

static int mv_open(qvfs *vfs, const char *path, int flags, unsigned mode,
		   qvfs_file **out)
{
	struct memvfs *m = (struct memvfs *)vfs;
	LOCKED(m);
	int e = hook(m, MV_OPEN);
	if (e < 0)
		return e;
	path = follow(m, path);
	struct mfile *f = find(m, path, NULL);
	if (!f) {
		if (!(flags & QVFS_CREATE))
			return -ENOENT;
		f = add_file(m, path);
		f->attrs.mode = mode & 0755u; /* a umask of 022 */
	} else if ((flags & QVFS_CREATE) && (flags & QVFS_EXCL)) {
		return -EEXIST;
	}
	struct mhandle *h = xrealloc(NULL, sizeof *h);
	*h = (struct mhandle){.base.ops = &mh_ops,
			      .m = m,
			      .f = f,
			      .rdonly = (flags & QVFS_RDONLY) != 0};
	f->opens++;
	*out = &h->base;
	return 0;
}

static int mv_remove(qvfs *vfs, const char *path)
{
	struct memvfs *m = (struct memvfs *)vfs;
	LOCKED(m);
	size_t i;
	int e = hook(m, MV_DIR);
	if (e < 0)
		return e;
	struct mlink *l = find_link(m, path);
	if (l) { /* the link goes, not what it points to */
		drop_link(m, l);
		return 0;
	}
	if (!find(m, path, &i))
		return -ENOENT;
	drop_file(m, i);
	return 0;
}

static int mv_rename(qvfs *vfs, const char *from, const char *to,
		     int noreplace)
{
	struct memvfs *m = (struct memvfs *)vfs;
	LOCKED(m);
	size_t i;
	int e = hook(m, MV_DIR);
	if (e < 0)
		return e;
	struct mfile *f = find(m, from, NULL);
	if (!f)
		return -ENOENT; /* renaming links themselves: not simulated */
	struct mfile *old = find(m, to, &i);
	struct mlink *l = find_link(m, to);
	if (l) { /* renamed over a link: the link is replaced */
		if (noreplace)
			return -EEXIST;
		drop_link(m, l);
	}
	if (old) {
		if (noreplace)
			return -EEXIST;
		if (old->dir_durable) {
			f->has_shadow = 1;
			buf_copy(&f->shadow, &old->disk);
			f->shadow_attrs = old->attrs;
		}
		drop_file(m, i);
	}
	free(f->path);
	f->path = strdup(to);
	f->dir_durable = 0;
	return 0;
}

static int mv_sync_dir(qvfs *vfs, const char *path)
{
	struct memvfs *m = (struct memvfs *)vfs;
	LOCKED(m);
	int e = hook(m, MV_DIR);
	if (e < 0)
		return e;
	for (size_t i = 0; i < m->nfiles; i++) {
		m->files[i]->dir_durable = 1;
		m->files[i]->has_shadow = 0;
	}
	return 0;
}

static int mv_resolve(qvfs *vfs, const char *path, char **out)
{
	struct memvfs *m = (struct memvfs *)vfs;
	LOCKED(m);
	int e = hook(m, MV_ATTR);
	if (e < 0)
		return e;
	path = follow(m, path);
	if (!find(m, path, NULL))
		return -ENOENT;
	*out = xrealloc(NULL, strlen(path) + 1);
	memcpy(*out, path, strlen(path) + 1);
	return 0;
}

static uint64_t mv_now(qvfs *vfs)
{
	struct memvfs *m = (struct memvfs *)vfs;
	LOCKED(m);
	return m->clock += m->clock_step; /* deterministic */
}

void memvfs_clock(struct memvfs *m, uint64_t ns, uint64_t step)
{
	LOCKED(m);
	m->clock = ns;
	m->clock_step = step;
}

static uint64_t mv_mono(qvfs *vfs)
{
	struct memvfs *m = (struct memvfs *)vfs;
	LOCKED(m);
	return m->mono;
}

/* Tests never wait for real: a sleep only moves the clocks. */
static void mv_sleep(qvfs *vfs, uint64_t ns)
{
	struct memvfs *m = (struct memvfs *)vfs;
	LOCKED(m);
	m->mono += ns;
	if (m->clock_step)
		m->clock += ns;
}

/* A nap counts in full, as a sleep, whether or not a broadcast ended it
 * sooner: the clocks stay deterministic. Waiting for real (without the
 * mutex, so that the thread that broadcasts can commit) is only for tests
 * that have such a thread (memvfs_wait_real). */
static void mv_cond_wait(qvfs *vfs, pthread_cond_t *cv, pthread_mutex_t *mu,
			 uint64_t ns)
{
	struct memvfs *m = (struct memvfs *)vfs;
	pthread_mutex_lock(&m->mu);
	uint64_t real = m->wait_real < ns ? m->wait_real : ns;
	pthread_mutex_unlock(&m->mu);
	if (real) {
		qvfs *u = qvfs_unix();
		u->cond_wait(u, cv, mu, real);
	}
	mv_sleep(vfs, ns);
}

void memvfs_wait_real(struct memvfs *m, uint64_t ns)
{
	LOCKED(m);
	m->wait_real = ns;
}

static uint64_t mv_boot(qvfs *vfs)
{
	struct memvfs *m = (struct memvfs *)vfs;
	LOCKED(m);
	return m->boot;
}

static void mv_random(qvfs *vfs, void *buf, size_t n)
{
	struct memvfs *m = (struct memvfs *)vfs;
	LOCKED(m);
	uint8_t *p = buf;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(&m->rng);
}

struct memvfs *memvfs_new(uint64_t seed)
{
	struct memvfs *m = xrealloc(NULL, sizeof *m);
	memset(m, 0, sizeof *m);
	m->vfs = (qvfs){.open = mv_open,
			.remove = mv_remove,
			.rename = mv_rename,
			.sync_dir = mv_sync_dir,
			.now_ns = mv_now,
			.mono_ns = mv_mono,
			.sleep_ns = mv_sleep,
			.boot_id = mv_boot,
			.random = mv_random,
			.resolve = mv_resolve,
			.cond_wait = mv_cond_wait};
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&m->mu, &a);
	pthread_mutexattr_destroy(&a);
	m->rng = seed;
	m->mono = 1000000000; /* any start: only differences count */
	m->boot = 1000 + (seed & 0xffff);
	memvfs_clock(m, 1700000000ull * 1000000000ull, 1000);
	return m;
}

void memvfs_free(struct memvfs *m)
{
	if (!m)
		return;
	while (m->nfiles)
		free_file(m->files[--m->nfiles]);
	while (m->orphans) {
		struct mfile *o = m->orphans;
		m->orphans = o->next_orphan;
		free_file(o);
	}
	free(m->files);
	while (m->nlinks)
		drop_link(m, &m->links[m->nlinks - 1]);
	free(m->links);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

qvfs *memvfs_vfs(struct memvfs *m)
{
	return &m->vfs;
}

uint64_t memvfs_calls(struct memvfs *m, int kinds)
{
	LOCKED(m);
	uint64_t n = 0;
	for (int i = 0; i < 9; i++)
		if (kinds & (1 << i))
			n += m->counts[i];
	return n;
}

void memvfs_fault(struct memvfs *m, int kinds, uint64_t n, int err,
		  int persist, int shortio)
{
	LOCKED(m);
	m->fault = (struct plan){.kinds = kinds,
				 .n = n,
				 .err = err,
				 .persist = persist,
				 .shortio = shortio};
}

void memvfs_crash_at(struct memvfs *m, int kinds, uint64_t n)
{
	LOCKED(m);
	m->crash = (struct plan){.kinds = kinds, .n = n};
}

int memvfs_crashed(struct memvfs *m)
{
	LOCKED(m);
	return m->crashed;
}

void memvfs_clear_faults(struct memvfs *m)
{
	LOCKED(m);
	m->fault = (struct plan){0};
	m->crash = (struct plan){0};
	m->crashed = 0;
}

static void apply(struct buf *b, const struct op *o)
{
	if (o->trunc)
		buf_resize(b, (size_t)o->off);
	else
		buf_write(b, o->data, o->len, o->off);
}

/* Write only some of the sectors of o (at least one kept, one lost when
 * there are two or more). */
static void apply_torn(struct buf *b, const struct op *o, size_t sector,
		       uint64_t *rng)
{
	if (o->trunc || !o->len)
		return;
	uint64_t first = o->off / sector, last = (o->off + o->len - 1) / sector;
	uint64_t nsec = last - first + 1, keep = rnd(rng) % nsec,
		 lose = nsec > 1 ? (keep + 1 + rnd(rng) % (nsec - 1)) % nsec
				 : nsec;
	for (uint64_t s = 0; s < nsec; s++) {
		if (s == lose || (s != keep && (rnd(rng) & 1)))
			continue;
		uint64_t lo = (first + s) * sector, hi = lo + sector;
		if (lo < o->off)
			lo = o->off;
		if (hi > o->off + o->len)
			hi = o->off + o->len;
		buf_write(b, o->data + (lo - o->off), (size_t)(hi - lo), lo);
	}
}

static void crash_file(struct memvfs *m, struct mfile *f, enum mv_crash mode,
		       uint64_t *rng)
{
	struct buf img = {0};
	size_t n = f->nops, k;
	if (mode == MV_CRASH_PROCESS) {
		buf_copy(&img, &f->cache);
	} else {
		buf_copy(&img, &f->disk);
	}
	switch (mode) {
	case MV_CRASH_PROCESS:
	case MV_CRASH_DROP:
		break;
	case MV_CRASH_ALL:
		for (size_t i = 0; i < n; i++)
			apply(&img, &f->ops[i]);
		break;
	case MV_CRASH_PREFIX:
		k = (size_t)(rnd(rng) % (n + 1));
		for (size_t i = 0; i < k; i++)
			apply(&img, &f->ops[i]);
		break;
	case MV_CRASH_SUBSET: {
		size_t *perm = xrealloc(NULL, (n ? n : 1) * sizeof *perm);
		for (size_t i = 0; i < n; i++)
			perm[i] = i;
		for (size_t i = n; i > 1; i--) {
			size_t j = (size_t)(rnd(rng) % i), t = perm[i - 1];
			perm[i - 1] = perm[j];
			perm[j] = t;
		}
		for (size_t i = 0; i < n; i++)
			if (rnd(rng) & 1)
				apply(&img, &f->ops[perm[i]]);
		free(perm);
		break;
	}
	case MV_CRASH_TORN512:
	case MV_CRASH_TORN4K:
		k = n ? (size_t)(rnd(rng) % n) : 0;
		for (size_t i = 0; i < k; i++)
			apply(&img, &f->ops[i]);
		if (k < n)
			apply_torn(&img, &f->ops[k],
				   mode == MV_CRASH_TORN512 ? 512 : 4096, rng);
		break;
	case MV_CRASH_GARBAGE:
	case MV_CRASH_ZERO:
		for (size_t i = 0; i < n; i++) {
			const struct op *o = &f->ops[i];
			if (rnd(rng) & 1) {
				apply(&img, o);
			} else if (!o->trunc && o->len) {
				uint8_t *junk = xrealloc(NULL, o->len);
				for (size_t j = 0; j < o->len; j++)
					junk[j] = mode == MV_CRASH_ZERO
							  ? 0
							  : (uint8_t)rnd(rng);
				buf_write(&img, junk, o->len, o->off);
				free(junk);
			}
		}
		break;
	case MV_CRASH_SECTORS:
		for (size_t i = 0; i < n; i++) {
			const struct op *o = &f->ops[i];
			if (o->trunc) {
				if (rnd(rng) & 1)
					apply(&img, o);
				continue;
			}
			for (uint64_t lo = o->off; lo < o->off + o->len;) {
				uint64_t hi = (lo / 512 + 1) * 512;
				if (hi > o->off + o->len)
					hi = o->off + o->len;
				if (rnd(rng) & 1)
					buf_write(&img, o->data + (lo - o->off),
						  (size_t)(hi - lo), lo);
				lo = hi;
			}
		}
		break;
	case MV_CRASH_NMODES:
		break;
	}
	buf_copy(&f->cache, &img);
	buf_copy(&f->disk, &img);
	free(img.p);
	ops_clear(f);
	f->lock_owner = f->queue_owner = NULL;
}

void memvfs_crash(struct memvfs *m, enum mv_crash mode, uint64_t seed)
{
	LOCKED(m);
	uint64_t rng = seed;
	for (size_t i = 0; i < m->nfiles;) {
		struct mfile *f = m->files[i];
		if (mode != MV_CRASH_PROCESS && !f->dir_durable &&
		    (rnd(&rng) & 1)) {
			if (f->has_shadow) { /* the rename it made is undone */
				struct mfile *back = add_file(m, f->path);
				buf_copy(&back->disk, &f->shadow);
				buf_copy(&back->cache, &f->shadow);
				back->attrs = f->shadow_attrs;
				back->dir_durable = 1;
				drop_file(m, i); /* back takes f's place */
				i++;
				continue;
			}
			drop_file(m, i); /* its directory entry never landed */
			continue;
		}
		crash_file(m, f, mode, &rng);
		f->dir_durable = 1;
		i++;
	}
	memvfs_clear_faults(m);
	if (mode != MV_CRASH_PROCESS)
		m->boot++;
}

const uint8_t *memvfs_data(struct memvfs *m, const char *path, size_t *size)
{
	LOCKED(m);
	struct mfile *f = find(m, path, NULL);
	if (!f)
		return NULL;
	*size = f->cache.size;
	return f->cache.p;
}

void memvfs_set(struct memvfs *m, const char *path, const void *data,
		size_t size)
{
	LOCKED(m);
	struct mfile *f = find(m, path, NULL);
	if (!f)
		f = add_file(m, path);
	f->cache.size = 0;
	buf_write(&f->cache, data, size, 0);
	buf_copy(&f->disk, &f->cache);
	ops_clear(f);
	f->dir_durable = 1;
}

void memvfs_user(struct memvfs *m, uint32_t uid, uint32_t gid)
{
	LOCKED(m);
	m->uid = uid;
	m->gid = gid;
}

int memvfs_attrs(struct memvfs *m, const char *path, struct qvfs_attrs *a)
{
	LOCKED(m);
	struct mfile *f = find(m, follow(m, path), NULL);
	if (!f)
		return -ENOENT;
	*a = f->attrs;
	return 0;
}

void memvfs_set_attrs(struct memvfs *m, const char *path,
		      const struct qvfs_attrs *a)
{
	LOCKED(m);
	struct mfile *f = find(m, follow(m, path), NULL);
	if (f)
		f->attrs = *a;
}

void memvfs_symlink(struct memvfs *m, const char *link, const char *target)
{
	LOCKED(m);
	struct mlink *l = find_link(m, link);
	if (!l) {
		m->links = xrealloc(m->links, (m->nlinks + 1) * sizeof *m->links);
		l = &m->links[m->nlinks++];
		l->from = strdup(link);
	} else {
		free(l->to);
	}
	l->to = strdup(target);
}

const char *memvfs_readlink(struct memvfs *m, const char *link)
{
	LOCKED(m);
	struct mlink *l = find_link(m, link);
	return l ? l->to : NULL;
}
