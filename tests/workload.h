/*
 * workload.h - a deterministic workload for the crash and fault tests.
 *
 * A plan is a list of commits (puts of keys and values of mixed sizes,
 * deletes of present keys, range deletes, reopens, syncs) generated from a
 * seed, together with the expected content after every commit. wl_run()
 * plays it against a database on any VFS and stops at the first failure,
 * saying which commits were acknowledged; wl_verify() then opens the
 * database and requires its content to be one of the states the
 * crash-safety contract allows.
 */
#ifndef QUIRE_WORKLOAD_H
#define QUIRE_WORKLOAD_H

#include <stdint.h>

#include "testutil.h"
#include "vfs.h"

struct wl_opts {
	uint64_t seed;
	int commits;
	int max_ops;        /* operations per commit: 1..max_ops */
	unsigned node_size;
	int nosync;         /* QUIRE_NOSYNC, with quire_sync every sync_every */
	int sync_every;
	int reopen_every;   /* close and reopen before every n-th commit */
	int big_every;      /* one value in n is stored out of line */
	int abort_every;    /* before every n-th commit, a transaction that
			     * writes large values and aborts */
	unsigned long checkpoint_ops; /* 0: the default */
	int nkeys;          /* distinct short keys; 0: 400 */
	int huge_every;     /* one value in n is 64 KiB .. huge_max */
	size_t huge_max;    /* 0: 1 MiB */
	int checkpoint_every; /* quire_checkpoint after every n-th commit */
	int retention_every; /* quire_set_retention after every n-th commit
			      * (a commit of its own that changes no content;
			      * the policy alternates: newest 3, every one) */
	int autocompact;    /* automatic compaction on (auto_compact_ratio
			     * 0.25, no 1 MiB floor), run inside the commit
			     * that makes it due (compact_run_inline) and at
			     * close */
	int history_every;  /* after every n-th commit, history reads (log,
			     * changes, key history, AS-OF) and gets */
	int probe_poison;   /* after a failure, try a write transaction and
			     * quire_sync (wl_result.poisoned_*) */
	int range_every;    /* about one commit in n holds a range delete
			     * (quire_del_range or quire_del_prefix: up to
			     * every key, or none), among its puts and
			     * deletes; 0: none (test_alloc plays plans
			     * itself and knows no range deletes) */
	int range_big_at;   /* commit n holds a range delete of the middle
			     * four fifths of the key space: many keys,
			     * whole subtrees (0: none) */
};

struct wl_op {
	int del;
	uint8_t *key, *val;
	size_t klen, vlen;
	/* a range delete (range_every): 1 quire_del_range(key or NULL when
	 * from_null, to or NULL when to_null), 2 quire_del_prefix(key); it
	 * must report removed keys */
	int range, from_null, to_null;
	uint8_t *to;
	size_t tlen;
	uint64_t removed;
};

struct wl_commit {
	struct wl_op *ops;
	int nops;
	int reopen_before, sync_after, abort_before;
};

struct wl_plan {
	struct wl_opts o;
	struct wl_commit *c;  /* c[1..commits] */
	struct model *state;  /* state[i]: content after commit i; [0] empty */
	int ranges, range_commits; /* range deletes in the plan, commits with
				    * one (that removed keys) */
	uint64_t range_keys;  /* keys they remove */
	int range_max;        /* the most one removes */
};

struct wl_result {
	int created;        /* the database creation was acknowledged */
	int acked;          /* last commit that returned 0 */
	int inflight;       /* 1 if it stopped inside commit acked + 1 */
	int durable;        /* last commit known to be on disk */
	int err;            /* first failure, 0 if the plan ran to the end */
	int begin_after_fail; /* quire_begin(write) right after a failed commit */
	char where[64];     /* the call that failed */
	char msg[512];      /* quire_errmsg() of the failure */
	int poisoned_begin; /* with probe_poison: quire_begin(write) and */
	int poisoned_sync;  /* quire_sync after the failure */
};

/*
 * How the workload reports a broken contract. By default it fails the
 * cmocka test; a forked worker (which must not unwind into cmocka's runner)
 * sets wl_fail_hook to pass the message on and exit. The hook must not
 * return.
 */
extern void (*wl_fail_hook)(const char *msg);
void wl_fail(const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 1, 2), noreturn))
#endif
	;

/* Fail (through wl_fail) unless quire_check finds db's latest commit clean. */
void wl_check_clean(quire *db, const char *ctx);

void wl_plan_make(struct wl_plan *p, const struct wl_opts *o);
void wl_plan_free(struct wl_plan *p);

void wl_run(const struct wl_plan *p, qvfs *vfs, const char *path,
	    struct wl_result *r);

/* 1 if the transaction's content equals m. */
int wl_same(quire_txn *txn, const struct model *m);

/*
 * Open the database (creating it if r says creation was not acknowledged)
 * and fail the test unless its content is state[lo..hi] of the plan and
 * quire_check finds nothing; then make ten more commits, reopen, and check
 * again. Returns the index of the state found; *file_bytes (if not NULL)
 * receives the file size the last commit's header records.
 */
int wl_verify(const struct wl_plan *p, qvfs *vfs, const char *path,
	      const struct wl_result *r, int lo, int hi, const char *ctx,
	      uint64_t *file_bytes);

#endif
