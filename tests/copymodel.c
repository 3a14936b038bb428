/*
 * copymodel.c - the source model of the backup and stream tests (see
 * copymodel.h).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "copymodel.h"

uint64_t hist_newest_txn(quire *db)
{
	quire_txn *t;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	uint64_t id = quire_txn_id(t);
	quire_abort(t);
	return id;
}

void hist_note_empty(quire *db, struct hist *h)
{
	assert_true(h->n + 1 < MAXSTATES);
	model_copy(&h->state[h->n + 1], &h->state[h->n]);
	h->txn[h->n + 1] = hist_newest_txn(db);
	h->n++;
}

void hist_note_time(quire *db, struct hist *h)
{
	quire_txn *t;
	quire_log_entry le;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_log_get(t, h->txn[h->n], &le));
	h->time[h->n] = le.time_ns;
	quire_abort(t);
}

void hist_commit(quire *db, struct hist *h, uint64_t *rng)
{
	quire_txn *t;
	assert_true(h->n + 1 < MAXSTATES);
	struct model *m = &h->state[h->n + 1];
	model_copy(m, &h->state[h->n]);
	QOK(quire_begin(db, 0, &t));
	int ops = 1 + (int)tu_below(rng, 20), wrote = 0;
	for (int i = 0; i < ops; i++) {
		char k[16], v[300];
		size_t vl = 1 + tu_below(rng, tu_below(rng, 8) ? 40 : 290);
		snprintf(k, sizeof k, "k%03llu",
			 (unsigned long long)tu_below(rng, 150));
		if (tu_below(rng, 5) == 0) {
			int e = quire_del(t, k, strlen(k));
			assert_true(e == 0 || e == QUIRE_NOTFOUND);
			wrote += e == 0;
			model_del(m, k, strlen(k));
		} else if (tu_below(rng, 40) == 0) { /* a value block */
			static uint8_t big[3000];
			memset(big, 'A' + (int)tu_below(rng, 26), sizeof big);
			QOK(quire_put(t, k, strlen(k), big, sizeof big));
			model_put(m, k, strlen(k), big, sizeof big);
			wrote++;
		} else {
			memset(v, 'a' + (int)tu_below(rng, 26), vl);
			QOK(quire_put(t, k, strlen(k), v, vl));
			model_put(m, k, strlen(k), v, vl);
			wrote++;
		}
	}
	h->txn[h->n + 1] = quire_txn_id(t);
	QOK(quire_commit(t));
	if (wrote) /* else no commit was made */
		h->n++;
	else
		model_clear(m);
}

int hist_state_of(const struct hist *h, uint64_t txn)
{
	for (int i = 1; i <= h->n; i++)
		if (h->txn[i] == txn)
			return i;
	fail_msg("no commit %llu", (unsigned long long)txn);
	return -1;
}

void hist_check_copy(qvfs *vfs, const char *path, const struct hist *h,
		     uint64_t txn, uint64_t *rng, int may_lack_history)
{
	quire_options o;
	quire *d;
	quire_txn *t;
	int i = hist_state_of(h, txn);
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	QOK(qdb_open_vfs(path, &o, vfs, &d));
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	assert_int_equal(quire_txn_id(t), txn);
	model_check_txn(&h->state[i], t);
	uint64_t problems = 1;
	QOK(quire_check(t, NULL, NULL, &problems));
	assert_int_equal(problems, 0);
	quire_abort(t);
	int j = 1 + (int)tu_below(rng, (uint64_t)i);
	int e = quire_begin_at(d, h->txn[j], &t);
	if (e == QUIRE_EHISTORY && may_lack_history) {
		QOK(quire_close(d));
		return;
	}
	QOK(e);
	model_check_txn(&h->state[j], t);
	quire_abort(t);
	QOK(quire_close(d));
}

void hist_free(struct hist *h)
{
	for (int i = 0; i <= h->n; i++)
		model_clear(&h->state[i]);
}

void same_past_superblock(struct memvfs *m, const char *a, const char *b)
{
	size_t an, bn;
	const uint8_t *pa = memvfs_data(m, a, &an);
	const uint8_t *pb = memvfs_data(m, b, &bn);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_int_equal(an, bn);
	assert_memory_equal(pa + QF_SUPER_SIZE, pb + QF_SUPER_SIZE,
			    an - QF_SUPER_SIZE);
}
