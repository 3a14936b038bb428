/*
 * compact_cmd.c - the quire tool's compact command: quire_compact() with
 * the history to keep taken from the command line (or, without --keep-*,
 * from the file's retention policy; backup --compact takes them too), an
 * optional threshold of reclaimable space (--auto), a progress bar on a
 * terminal and a summary of what was reclaimed; and the retention
 * command, which shows or sets that policy.
 * See quire(1).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tool.h"
#include "tsv.h"

#define BAR_WIDTH 30

/* --auto also wants this much reclaimable, as auto_compact_ratio does: in
 * a small file a ratio is reached by a few KiB, and compacting them frees
 * next to nothing. */
#define AUTO_MIN_RECLAIMABLE ((uint64_t)1 << 20)

struct bar {
	struct progress p; /* drawn: end the line with a newline */
	int stale;         /* progress came that is not drawn yet */
	uint64_t done, total;
};

static void draw(struct bar *b, int force)
{
	char done[16], total[16], fill[BAR_WIDTH + 1];
	/* the total is an estimate that writers can make grow; never show
	 * more than 100% */
	uint64_t t = b->total > b->done ? b->total : b->done;
	double part = t ? (double)b->done / (double)t : 0.0;
	int n = (int)(part * BAR_WIDTH);
	for (int i = 0; i < BAR_WIDTH; i++)
		fill[i] = i < n ? '#' : '.';
	fill[BAR_WIDTH] = 0;
	human(b->done, done, sizeof done);
	human(t, total, sizeof total);
	b->stale = !progress_show(&b->p, force, "compacting %3d%% [%s] %s / %s",
				  (int)(part * 100), fill, done, total);
}

static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct bar *b = ctx;
	b->done = done;
	b->total = total;
	draw(b, 0);
	return 0;
}

/* Leave the bar complete (or where it stopped, if compaction failed) and
 * the cursor on a fresh line for what follows. */
static void bar_end(struct bar *b, int e)
{
	if (!b->p.drawn)
		return;
	if (!e && b->done < b->total) {
		b->done = b->total;
		b->stale = 1;
	}
	if (b->stale)
		draw(b, 1);
	fputc('\n', stderr);
}

/* The figures of the newest commit and, unless oldest_ns is NULL, the time
 * of the oldest one kept. */
static int newest(quire *db, quire_stat *st, uint64_t *oldest_ns)
{
	quire_txn *t;
	quire_log_entry le;
	int e = quire_begin(db, QUIRE_RDONLY, &t);
	if (e)
		return e;
	if ((e = quire_txn_stat(t, st)) == 0 && oldest_ns &&
	    (e = quire_log_get(t, st->history_txn, &le)) == 0)
		*oldest_ns = le.time_ns;
	quire_abort(t);
	return e;
}

static void set_keep_since(quire_compact_options *co, const struct point *p)
{
	if (!p->v)
		/* 0 and @0 ask for every commit, but 0 means "not asked" to
		 * the library; every commit was made after 1970 */
		co->keep_since_ns = 1;
	else if (p->by_time)
		co->keep_since_ns = p->v;
	else
		co->keep_since_txn = p->v;
}

static void print_not_needed(const struct opts *o, const char *path,
			     const quire_stat *st)
{
	char hg[16];
	if (o->json) {
		printf("{\"path\":");
		json_string(stdout, (const unsigned char *)path, strlen(path));
		/* garbage_*: the names before reclaimable_bytes, kept */
		printf(",\"compacted\":false,\"garbage_ratio\":%.6f"
		       ",\"garbage_bytes\":%" PRIu64 ",\"auto_ratio\":%.6f"
		       ",\"file_bytes\":%" PRIu64 ",\"reclaimable_bytes\":%"
		       PRIu64 "}\n",
		       st->garbage_ratio, st->reclaimable_bytes, o->auto_ratio,
		       st->file_bytes, st->reclaimable_bytes);
		return;
	}
	human(st->reclaimable_bytes, hg, sizeof hg);
	printf("%s: compaction not needed: reclaimable %.1f%% (%s); --auto "
	       "wants more than %.1f%% and at least 1 MiB\n",
	       path, st->garbage_ratio * 100.0, hg, o->auto_ratio * 100.0);
}

static void print_summary(const struct opts *o, const char *path,
			  const quire_stat *before, const quire_stat *after,
			  uint64_t oldest_ns, double secs)
{
	char ha[16], hb[16], when[ISO_TIME_LEN];
	iso_time(oldest_ns, when, sizeof when);
	if (o->json) {
		printf("{\"path\":");
		json_string(stdout, (const unsigned char *)path, strlen(path));
		printf(",\"compacted\":true,\"seconds\":%.3f"
		       ",\"file_bytes_before\":%" PRIu64
		       ",\"file_bytes_after\":%" PRIu64
		       ",\"garbage_ratio_before\":%.6f"
		       ",\"garbage_ratio_after\":%.6f,\"history_txn\":%" PRIu64
		       ",\"history_seq\":%" PRIu64 ",\"history_time\":\"%s\""
		       ",\"history_time_ns\":%" PRIu64
		       ",\"reclaimable_bytes_before\":%" PRIu64
		       ",\"reclaimable_bytes_after\":%" PRIu64 "}\n",
		       secs, before->file_bytes, after->file_bytes,
		       before->garbage_ratio, after->garbage_ratio,
		       after->history_txn, after->history_seq, when, oldest_ns,
		       before->reclaimable_bytes, after->reclaimable_bytes);
		return;
	}
	human(before->file_bytes, ha, sizeof ha);
	human(after->file_bytes, hb, sizeof hb);
	printf("%s: %s -> %s, reclaimable %.1f%% -> %.1f%%, %.2f s, oldest "
	       "commit kept: %" PRIu64 " (%s)\n",
	       path, ha, hb, before->garbage_ratio * 100.0,
	       after->garbage_ratio * 100.0, secs, after->history_txn, when);
}

/* --keep-since naming a commit that does not exist yet (a txn id past the
 * newest, a time in the future: a typo, or seconds taken for
 * milliseconds) would keep nothing it names: refused before anything is
 * done, as quire_compact() refuses it. 0, or the exit status 2. */
static int check_keep_since(const struct opts *o, const char *path,
			    const quire_stat *st)
{
	const struct point *p = &o->keep_since;
	char when[ISO_TIME_LEN], now_s[ISO_TIME_LEN];
	struct timespec ts;
	if (!o->keep_since.set || !p->v)
		return 0;
	if (!p->by_time) {
		if (p->v <= st->txn_id)
			return 0;
		fprintf(stderr, "quire: %s: --keep-since %" PRIu64 ": there is "
				"no commit %" PRIu64 " yet (the newest is %" PRIu64
				"); nothing was changed\n",
			path, p->v, p->v, st->txn_id);
		return 2;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	/* after the clock was set back, the newest commit is the present */
	if (p->v <= now || p->v <= st->commit_time_ns)
		return 0;
	iso_time(p->v, when, sizeof when);
	iso_time(now, now_s, sizeof now_s);
	fprintf(stderr, "quire: %s: --keep-since: %s lies in the future (it is "
			"%s now); nothing was changed\n",
		path, when, now_s);
	return 2;
}

int keep_options(const struct opts *o, const char *path, quire *db,
		 quire_compact_options *co)
{
	quire_stat st;
	int e;
	quire_compact_options_init(co);
	if (o->keep_since.set)
		set_keep_since(co, &o->keep_since);
	co->keep_last = o->keep_last;
	if ((e = newest(db, &st, NULL)) != 0)
		return fail(path, e);
	return check_keep_since(o, path, &st);
}

int cmd_compact(const struct opts *o)
{
	const char *path = o->pos[0];
	quire_compact_options co;
	quire_stat before, after;
	struct bar bar;
	uint64_t oldest_ns, t0;
	quire *db;
	int e, rc;
	/* compacting a file that is not there would only create it */
	if ((rc = open_db(o, path, OPEN_EXISTING, &db)) != 0)
		return rc;
	if ((rc = keep_options(o, path, db, &co)) != 0) {
		quire_close(db);
		return rc;
	}
	if ((e = newest(db, &before, NULL)) != 0)
		goto out;
	/* garbage_ratio is reclaimable_bytes / file_bytes, reclaimable
	 * under the stored policy (also when --keep-* ask otherwise) */
	if (o->has_auto &&
	    !(before.garbage_ratio > o->auto_ratio &&
	      before.reclaimable_bytes >= AUTO_MIN_RECLAIMABLE)) {
		print_not_needed(o, path, &before);
		goto out;
	}
	progress_start(&bar.p);
	if (!o->quiet && bar.p.on) {
		co.progress = on_progress;
		co.progress_ctx = &bar;
	}
	t0 = now_ns();
	e = quire_compact(db, &co);
	double secs = (double)(now_ns() - t0) / 1e9;
	bar_end(&bar, e);
	if (!e && (e = newest(db, &after, &oldest_ns)) == 0)
		print_summary(o, path, &before, &after, oldest_ns, secs);
out:
	rc = e ? fail(path, e) : 0;
	quire_close(db);
	return rc;
}

/* ---- retention: the policy compact obeys ----------------------------- */

int parse_duration(const char *s, uint64_t *ns)
{
	uint64_t v = 0, unit = 1000000000u;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	switch (*s) {
	case 0:
		break;
	case 's':
		s++;
		break;
	case 'm':
		unit *= 60;
		s++;
		break;
	case 'h':
		unit *= 3600;
		s++;
		break;
	case 'd':
		unit *= 86400;
		s++;
		break;
	default:
		return -1;
	}
	if (*s || !v || v > UINT64_MAX / unit)
		return -1;
	*ns = v * unit;
	return 0;
}

/* ns in the largest unit that divides it, as --keep-for takes it ("36h",
 * "7d"); a policy set through the library may hold fractions of a second
 * ("1.5s"). */
static void duration_text(uint64_t ns, char *buf, size_t n)
{
	static const struct {
		uint64_t ns;
		char c;
	} unit[] = {{86400000000000u, 'd'},
		    {3600000000000u, 'h'},
		    {60000000000u, 'm'},
		    {1000000000u, 's'}};
	for (size_t i = 0; i < sizeof unit / sizeof *unit; i++)
		if (ns % unit[i].ns == 0) {
			snprintf(buf, n, "%" PRIu64 "%c", ns / unit[i].ns,
				 unit[i].c);
			return;
		}
	char frac[16];
	size_t k = (size_t)snprintf(frac, sizeof frac, "%09" PRIu64,
				    ns % 1000000000u);
	while (k > 1 && frac[k - 1] == '0')
		frac[--k] = 0;
	snprintf(buf, n, "%" PRIu64 ".%ss", ns / 1000000000u, frac);
}

void policy_text(const quire_retention *r, char *buf, size_t n)
{
	char d[48];
	if (r->commits == QUIRE_KEEP_ALL) {
		snprintf(buf, n, "every commit");
		return;
	}
	if (!r->ns) {
		snprintf(buf, n, "newest %" PRIu64 " commit%s", r->commits,
			 r->commits == 1 ? "" : "s");
		return;
	}
	duration_text(r->ns, d, sizeof d);
	snprintf(buf, n, "newest %" PRIu64 " commit%s, and those of the last %s",
		 r->commits, r->commits == 1 ? "" : "s", d);
}

void policy_json(FILE *out, const quire_retention *r)
{
	int all = r->commits == QUIRE_KEEP_ALL;
	fprintf(out, ",\"keep_all\":%s,\"keep_last\":", all ? "true" : "false");
	if (all)
		fputs("null", out);
	else
		fprintf(out, "%" PRIu64, r->commits);
	fprintf(out, ",\"keep_for_ns\":%" PRIu64, r->ns);
}

int cmd_retention(const struct opts *o)
{
	const char *path = o->pos[0];
	int set = o->keep_all || o->keep_last || o->keep_for_ns;
	char text[POLICY_TEXT_LEN];
	quire_retention r;
	quire_stat st;
	quire *db;
	int e, rc, tries = 0;
	if (o->keep_all && (o->keep_last || o->keep_for_ns))
		return bad_arg("--keep-all keeps every commit: it does not "
			       "combine with --keep-last or --keep-for");
	/* setting the policy of a file that is not there would only create
	 * it (a mistyped name, most likely) */
	if ((rc = open_db(o, path, set ? OPEN_EXISTING : OPEN_READ, &db)) != 0)
		return rc;
	if ((e = newest(db, &st, NULL)) != 0)
		goto out;
	r = st.retention;
	if (set) {
		/* the options given are the whole policy; --keep-for alone
		 * keeps the newest commit too (one always stays) */
		r = o->keep_all ? (quire_retention){QUIRE_KEEP_ALL, 0}
				: (quire_retention){o->keep_last ? o->keep_last
								  : 1,
						    o->keep_for_ns};
		/* the policy in force again would only add an empty commit */
		if (r.commits != st.retention.commits ||
		    r.ns != st.retention.ns)
			while ((e = quire_set_retention(db, &r)) ==
				       QUIRE_EBUSY &&
			       wait_more(o, path, &tries))
				;
		if (e)
			goto out;
	}
	if (o->json) {
		printf("{\"path\":");
		json_string(stdout, (const unsigned char *)path, strlen(path));
		policy_json(stdout, &r);
		printf("}\n");
	} else {
		policy_text(&r, text, sizeof text);
		printf("keep: %s\n", text);
	}
out:
	rc = e ? fail(path, e) : 0;
	quire_close(db);
	return rc;
}
