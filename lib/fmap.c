/*
 * fmap.c - the file mapping, its verified marks and the SIGBUS handler
 * (see fmap.h).
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fmap.h"
#include "util.h"

/* ---- the fault registry ---------------------------------------------------
 *
 * Every view is registered here so that the SIGBUS handler can tell
 * whether a fault is ours. Slots are claimed and released with atomics
 * (the handler may run at any moment in any thread); a view registered
 * is never unmapped before its slot is released. When the registry is
 * full a view goes unregistered: a fault in it is then fatal, as it
 * would be without the handler.
 */
#define NREG 4096

struct reg {
	_Atomic uintptr_t base; /* 0: free */
	_Atomic uint64_t len;
	_Atomic(struct fmap *) owner;
};

static struct reg regs[NREG];
static struct sigaction prev_bus;
static pthread_mutex_t bus_mu = PTHREAD_MUTEX_INITIALIZER;

/* Put a page of zeros where the faulting page was, so that the access
 * completes, and mark the file object failed. */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	for (int i = 0; i < NREG; i++) {
		uintptr_t b = atomic_load(&regs[i].base);
		if (!b || a < b || a - b >= atomic_load(&regs[i].len))
			continue;
		long psz = sysconf(_SC_PAGESIZE);
		uintptr_t page = a & ~(uintptr_t)(psz - 1);
		struct fmap *m = atomic_load(&regs[i].owner);
		if (m)
			atomic_store(&m->failed, 1);
		if (mmap((void *)page, (size_t)psz, PROT_READ,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0) != MAP_FAILED)
			return;
		break; /* cannot recover: behave as if not ours */
	}
	if (prev_bus.sa_flags & SA_SIGINFO) {
		prev_bus.sa_sigaction(sig, si, uc);
	} else if (prev_bus.sa_handler != SIG_DFL &&
		   prev_bus.sa_handler != SIG_IGN) {
		prev_bus.sa_handler(sig);
	} else { /* die of it, as without us */
		signal(SIGBUS, SIG_DFL);
		raise(SIGBUS);
	}
}

/* Make on_sigbus the SIGBUS handler, the one found before it passing on
 * faults outside our views. Done at every new view: a handler another
 * part of the program installed since then is kept as the next one. */
static int bus_install(void)
{
	struct sigaction sa, cur;
	int ok = 1;
	pthread_mutex_lock(&bus_mu);
	if (sigaction(SIGBUS, NULL, &cur) != 0)
		ok = 0;
	else if (!(cur.sa_flags & SA_SIGINFO) ||
		 cur.sa_sigaction != on_sigbus) {
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		prev_bus = cur;
		ok = sigaction(SIGBUS, &sa, NULL) == 0;
	}
	pthread_mutex_unlock(&bus_mu);
	return ok;
}

static int reg_add(struct fmap *m, const uint8_t *base, uint64_t len)
{
	if (!bus_install())
		return -1;
	for (int i = 0; i < NREG; i++) {
		uintptr_t free_ = 0;
		atomic_store(&regs[i].len, 0); /* harmless while free */
		if (atomic_compare_exchange_strong(&regs[i].base, &free_,
						   (uintptr_t)1)) {
			atomic_store(&regs[i].owner, m);
			atomic_store(&regs[i].len, len);
			atomic_store(&regs[i].base, (uintptr_t)base);
			return i;
		}
	}
	return -1;
}

static void reg_del(int i)
{
	if (i < 0)
		return;
	atomic_store(&regs[i].base, (uintptr_t)1); /* matches nothing */
	atomic_store(&regs[i].owner, NULL);
	atomic_store(&regs[i].len, 0);
	atomic_store(&regs[i].base, (uintptr_t)0);
}

/* ---- views ------------------------------------------------------------- */

/* Views are twice what is needed, in steps of 64 MiB: a file that grows
 * steadily is remapped a logarithmic number of times. */
#define VIEW_STEP ((uint64_t)64 << 20)

/* A new view covering at least need bytes (called with mu held, or before
 * the map is shared). */
static struct fview *view_new(struct fmap *m, qvfs_file *f, uint64_t need)
{
	if (!f->ops->map)
		return NULL;
	struct fview *v = malloc(sizeof *v);
	if (!v)
		return NULL;
	uint64_t len = (need * 2 + VIEW_STEP - 1) / VIEW_STEP * VIEW_STEP;
	const void *p = f->ops->map(f, len);
	if (!p) {
		free(v);
		return NULL;
	}
	v->base = p;
	v->len = len;
	v->next = atomic_load(&m->view);
	v->reg = reg_add(m, v->base, len);
	atomic_store_explicit(&m->view, v, memory_order_release);
	/* new reads go through v: the older view's pages would count twice
	 * in the process's resident memory (its pointers stay good) */
	if (v->next && f->ops->unneeded)
		f->ops->unneeded(f, v->next->base, v->next->len);
	return v;
}

void fmap_init(struct fmap *m)
{
	memset(m, 0, sizeof *m);
	pthread_mutex_init(&m->mu, NULL);
}

const uint8_t *fmap_open(struct fmap *m, qvfs_file *f, uint64_t len)
{
	struct fview *v = view_new(m, f, len);
	return v ? v->base : NULL;
}

void fmap_done(struct fmap *m)
{
	struct fview *v = atomic_load(&m->view);
	while (v) {
		struct fview *next = v->next;
		reg_del(v->reg);
		free(v);
		v = next;
	}
	for (int i = 0; i < FMAP_CHUNKS; i++)
		free(atomic_load(&m->marks[i]));
	pthread_mutex_destroy(&m->mu);
}

const uint8_t *fmap_at(struct fmap *m, qvfs_file *f, uint64_t off,
		       uint64_t n)
{
	struct fview *v = atomic_load_explicit(&m->view, memory_order_acquire);
	if (QLIKELY(v && off + n <= v->len))
		return v->base + off;
	if (!v)
		return NULL;
	pthread_mutex_lock(&m->mu);
	v = atomic_load(&m->view);
	if (off + n > v->len)
		v = view_new(m, f, off + n);
	pthread_mutex_unlock(&m->mu);
	return v ? v->base + off : NULL;
}

/* ---- marks --------------------------------------------------------------- */

#define CHUNK_WORDS (((uint64_t)1 << FMAP_CHUNK_BITS) >> 4 >> 6)

void fmap_mark(struct fmap *m, uint64_t off)
{
	if (off >= FMAP_MARKED)
		return;
	_Atomic(uint8_t *) *slot = &m->marks[off >> FMAP_CHUNK_BITS];
	uint8_t *c = atomic_load_explicit(slot, memory_order_acquire);
	if (!c) {
		pthread_mutex_lock(&m->mu);
		if (!(c = atomic_load(slot)) &&
		    (c = calloc(1, FMAP_SPAN_BYTES + CHUNK_WORDS * 8)) != NULL)
			atomic_store_explicit(slot, c, memory_order_release);
		pthread_mutex_unlock(&m->mu);
		if (!c)
			return;
	}
	uint64_t in = off & FMAP_CHUNK_MASK, g = in >> 4;
	uint8_t tag = fmap_span_tag(off), none = 0;
	if (!atomic_compare_exchange_strong_explicit(
		    (_Atomic uint8_t *)&c[in >> FMAP_SPAN_BITS], &none, tag,
		    memory_order_relaxed, memory_order_relaxed) &&
	    none != tag) /* the span's byte names another block */
		atomic_fetch_or_explicit(&fmap_chunk_bits(c)[g >> 6],
					 (uint64_t)1 << (g & 63),
					 memory_order_relaxed);
	uint64_t end = atomic_load_explicit(&m->mark_end, memory_order_relaxed);
	while (off >= end &&
	       !atomic_compare_exchange_weak(&m->mark_end, &end, off + 16))
		;
}

/* Clear the marks of one chunk from byte in (of the chunk) up to byte
 * lim (exclusive, at most the chunk's size). */
static void unmark_chunk(uint8_t *c, uint64_t in, uint64_t lim)
{
	_Atomic uint8_t *span = (_Atomic uint8_t *)c;
	uint64_t p = in >> FMAP_SPAN_BITS;
	if (in & (((uint64_t)1 << FMAP_SPAN_BITS) - 1)) {
		/* keep the span's block if it starts below in */
		unsigned t = atomic_load(&span[p]);
		if (t && (p << FMAP_SPAN_BITS) + ((uint64_t)(t - 1) << 4) >= in)
			atomic_store(&span[p], 0);
		p++;
	}
	for (; p << FMAP_SPAN_BITS < lim; p++)
		if (atomic_load_explicit(&span[p], memory_order_relaxed))
			atomic_store_explicit(&span[p], 0,
					      memory_order_relaxed);
	_Atomic uint64_t *bits = fmap_chunk_bits(c);
	uint64_t g = in >> 4, w = g >> 6, wend = ((lim - 1) >> 10) + 1;
	if (g & 63) /* keep the marks below in in its word */
		atomic_fetch_and(&bits[w++], ((uint64_t)1 << (g & 63)) - 1);
	for (; w < wend; w++)
		if (atomic_load_explicit(&bits[w], memory_order_relaxed))
			atomic_store_explicit(&bits[w], 0,
					      memory_order_relaxed);
}

void fmap_unmark_from(struct fmap *m, uint64_t off)
{
	uint64_t end = atomic_load(&m->mark_end);
	for (uint64_t ci = off >> FMAP_CHUNK_BITS;
	     off < end && ci < FMAP_CHUNKS && ci << FMAP_CHUNK_BITS < end;
	     ci++) {
		uint8_t *c = atomic_load(&m->marks[ci]);
		if (!c)
			continue;
		uint64_t base = ci << FMAP_CHUNK_BITS;
		uint64_t lim = QMIN(end - base, FMAP_CHUNK_MASK + 1);
		unmark_chunk(c, off > base ? off - base : 0, lim);
	}
}
