/*
 * histmodel.c - the history model shared by test_history and test_compact.
 */
#include "config.h"

#include <stdlib.h>

#include "histmodel.h"

uint64_t hm_latest(const struct hmodel *hm)
{
	return hm->nc - 1;
}

void hm_add_op(struct hmodel *hm, const struct hop *o)
{
	hm->ops = tu_push(hm->ops, &hm->capops, hm->nops, sizeof *hm->ops,
			  1024);
	hm->ops[hm->nops++] = *o;
}

void hm_add_commit(struct hmodel *hm, const struct hcommit *c)
{
	hm->c = tu_push(hm->c, &hm->capc, hm->nc, sizeof *hm->c, 256);
	hm->c[hm->nc++] = *c;
}

void hm_copy(struct hmodel *dst, const struct hmodel *src)
{
	*dst = (struct hmodel){0};
	for (size_t i = 0; i < src->nops; i++) {
		struct hop o = src->ops[i];
		o.k = tu_dup(o.k, o.kl);
		o.v = o.v ? tu_dup(o.v, o.vl) : NULL;
		hm_add_op(dst, &o);
	}
	for (size_t i = 0; i < src->nc; i++)
		hm_add_commit(dst, &src->c[i]);
}

void hm_truncate(struct hmodel *hm, uint64_t txn)
{
	uint64_t keep = hm->c[txn].next_seq - 1;
	for (size_t i = keep; i < hm->nops; i++) {
		free(hm->ops[i].k);
		free(hm->ops[i].v);
	}
	hm->nops = keep;
	hm->nc = txn + 1;
}

void hm_free(struct hmodel *hm)
{
	for (size_t i = 0; i < hm->nops; i++) {
		free(hm->ops[i].k);
		free(hm->ops[i].v);
	}
	free(hm->ops);
	free(hm->c);
	*hm = (struct hmodel){0};
}

void hm_apply(struct model *m, struct model *vers, const struct hop *o)
{
	if (o->op == QUIRE_OP_PUT) {
		model_put(m, o->k, o->kl, o->v, o->vl);
		if (vers)
			model_put(vers, o->k, o->kl, &o->seq, sizeof o->seq);
	} else {
		model_del(m, o->k, o->kl);
		if (vers)
			model_del(vers, o->k, o->kl);
	}
}

void hm_state_at(const struct hmodel *hm, uint64_t txn, struct model *m)
{
	model_clear(m);
	for (uint64_t s = 1; s < hm->c[txn].next_seq; s++)
		hm_apply(m, NULL, &hm->ops[s - 1]);
}

const struct model *hm_replay_to(const struct hmodel *hm,
				 struct hm_replay *rp, uint64_t txn)
{
	uint64_t end = hm->c[txn].next_seq;
	if (rp->seq == 0 || end < rp->seq) {
		model_clear(&rp->m);
		rp->seq = 1;
	}
	for (; rp->seq < end; rp->seq++)
		hm_apply(&rp->m, NULL, &hm->ops[rp->seq - 1]);
	return &rp->m;
}

int64_t hm_expect_at(const struct hmodel *hm, uint64_t upto, uint64_t ns,
		     int before)
{
	int64_t want = -1;
	for (uint64_t i = 0; i <= upto; i++) {
		if (before && hm->c[i].time_ns <= ns)
			want = (int64_t)i; /* the last one */
		if (!before && hm->c[i].time_ns >= ns)
			return (int64_t)i; /* the first one */
	}
	return want;
}
