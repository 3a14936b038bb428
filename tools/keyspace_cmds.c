/*
 * keyspace_cmds.c - the quire tool's commands on keyspaces themselves:
 * keyspaces (each with its keys and bytes), drop-keyspace and
 * rename-keyspace. The --keyspace option of the other commands is in
 * tool.c. See quire(1).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "tool.h"
#include "tsv.h"

struct lister {
	const struct opts *o;
	quire_txn *t;
	int listed;
};

/* One keyspace of the list: "NAME KEYS BYTES" (TSV), or an object of the
 * JSON array. 0, 1 once the output failed (stops the listing), or a quire
 * error. */
static int list_one(struct lister *l, quire_txn *v, const void *name,
		    size_t nlen)
{
	uint64_t keys, bytes;
	int e = quire_keyspace_stat(v, &keys, &bytes);
	if (e)
		return e;
	if (l->o->json) {
		fputs(l->listed++ ? ",\n{\"name\":" : "[{\"name\":", stdout);
		json_string(stdout, name, nlen);
		printf(",\"keys\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", keys,
		       bytes);
	} else {
		tsv_escape(stdout, name, nlen);
		printf("\t%" PRIu64 "\t%" PRIu64 "\n", keys, bytes);
	}
	return output_failed();
}

static int list_named(void *ctx, const void *name, size_t nlen)
{
	struct lister *l = ctx;
	quire_txn *v;
	int e = quire_keyspace(l->t, name, nlen, 0, &v);
	return e ? e : list_one(l, v, name, nlen);
}

/* The default keyspace (its name empty: no keyspace is named so) first,
 * then the named ones in byte order of their names. */
int cmd_keyspaces(const struct opts *o)
{
	const char *path = o->pos[0];
	struct lister l = {.o = o};
	quire *db;
	int e, rc;
	if ((rc = open_db(o, path, OPEN_READ, &db)) != 0)
		return rc;
	if ((rc = begin_point(db, path, &o->as_of, &l.t)) != 0) {
		quire_close(db);
		return rc;
	}
	if ((e = list_one(&l, l.t, "", 0)) == 0)
		e = quire_keyspace_list(l.t, list_named, &l);
	if (!e && o->json)
		fputs("]\n", stdout);
	quire_abort(l.t);
	quire_close(db);
	/* e > 0: the output failed, said already */
	return e < 0 ? fail(path, e) : 0;
}

/* "DB: dropped keyspace NAME (N keys)"; no such keyspace is "no" (exit
 * 1), as for del of a key. */
int cmd_drop_keyspace(const struct opts *o)
{
	const char *path = o->pos[0];
	struct ksname ks;
	uint64_t n = 0;
	quire *db;
	quire_txn *t;
	int e, rc;
	if ((rc = keyspace_arg(o, "NAME", o->pos[1], &ks)) != 0)
		return rc;
	if ((rc = open_db(o, path, OPEN_EXISTING, &db)) != 0)
		goto out;
	if ((e = begin_write(o, db, path, &t)) == 0) {
		e = quire_keyspace_drop(t, ks.name, ks.len, &n);
		e = e ? (quire_abort(t), e) : commit_meta(o, t);
	}
	if (e) {
		rc = keyspace_fail(path, &ks, e);
	} else {
		printf("%s: dropped keyspace ", path);
		tsv_escape(stdout, (const unsigned char *)ks.name, ks.len);
		printf(" (%" PRIu64 " key%s)\n", n, n == 1 ? "" : "s");
	}
	quire_close(db);
out:
	free(ks.name);
	return rc;
}

/* "DB: renamed keyspace OLD to NEW"; its keys and number stay. */
int cmd_rename_keyspace(const struct opts *o)
{
	const char *path = o->pos[0];
	struct ksname from, to = {0};
	quire *db;
	quire_txn *t;
	int e, rc;
	if ((rc = keyspace_arg(o, "OLD", o->pos[1], &from)) != 0 ||
	    (rc = keyspace_arg(o, "NEW", o->pos[2], &to)) != 0 ||
	    (rc = open_db(o, path, OPEN_EXISTING, &db)) != 0)
		goto out;
	if ((e = begin_write(o, db, path, &t)) == 0) {
		e = quire_keyspace_rename(t, from.name, from.len, to.name,
					  to.len);
		e = e ? (quire_abort(t), e) : commit_meta(o, t);
	}
	if (e == QUIRE_EEXIST) {
		fprintf(stderr, "quire: %s: keyspace ", path);
		tsv_escape(stderr, (const unsigned char *)to.name, to.len);
		fputs(" exists already\n", stderr);
		rc = 2;
	} else if (e) {
		rc = keyspace_fail(path, &from, e);
	} else {
		printf("%s: renamed keyspace ", path);
		tsv_escape(stdout, (const unsigned char *)from.name, from.len);
		fputs(" to ", stdout);
		tsv_escape(stdout, (const unsigned char *)to.name, to.len);
		putchar('\n');
	}
	quire_close(db);
out:
	free(from.name);
	free(to.name);
	return rc;
}
