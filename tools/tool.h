/*
 * tool.h - what the quire tool's command files share: the parsed command
 * line, error reporting, opening a database and beginning a snapshot of the
 * newest commit or of one in the past.
 */
#ifndef QUIRE_TOOL_H
#define QUIRE_TOOL_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#include "quire.h"

/* A commit named on the command line: an id, or "@UNIXTIME" for the last
 * commit made at or before that time. */
struct point {
	int set;     /* 0: none given, the newest commit */
	int by_time;
	uint64_t v;  /* the txn id, or the time in ns since 1970 */
};

struct opts {
	const char *cmd;
	const char *pos[3];
	int npos;
	int no_wait, verbose, json, reverse, follow, has_since;
	const char *prefix, *start, *end;
	const char *meta;         /* metadata of the commits made */
	unsigned long long limit; /* 0: none */
	unsigned long long batch; /* 0: one commit */
	unsigned long long since; /* changes after this sequence number */
	struct point as_of;
	/* compact */
	struct point keep_since;
	unsigned long long keep_last; /* 0: not asked (also for retention) */
	int quiet, has_auto;
	double auto_ratio;        /* --auto: compact above this fraction of
				   * the file reclaimable */
	/* retention */
	int keep_all;
	uint64_t keep_for_ns;     /* --keep-for: 0 not asked */
};

/* Room for iso_time()'s "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ". */
#define ISO_TIME_LEN 48

/* How open_db() opens: read-only, for writing (creating a missing file),
 * or for writing a file that must exist already. */
#define OPEN_READ 0
#define OPEN_CREATE 1
#define OPEN_EXISTING 2

/* In tools/tool.c. The int-returning ones return an exit status: 0, or 2
 * once the reason was printed on stderr. */
void help(FILE *out); /* the help text */
int usage(const char *why);
int bad_arg(const char *why); /* one line, no usage text */
int fail(const char *path, int e);
int open_db(const struct opts *o, const char *path, int how, quire **db);
void iso_time(uint64_t ns, char *buf, size_t n);
int output_done(void); /* flush stdout, report a write error */

/* In tools/history_cmds.c. */
/* Parse "TXN" or "@SECONDS[.FRACTION]"; 0, or -1 if malformed. */
int parse_point(const char *s, struct point *p);
/* Begin a read snapshot of the commit p names (the newest if none). */
int begin_point(quire *db, const char *path, const struct point *p,
		quire_txn **txn);
int cmd_history(const struct opts *o);
int cmd_changes(const struct opts *o);
int cmd_log(const struct opts *o);
int cmd_diff(const struct opts *o);

/* In tools/compact_cmd.c: compact, and retention (the policy that
 * compact obeys). */
int cmd_compact(const struct opts *o);
int cmd_retention(const struct opts *o);
/* Parse a duration: seconds, or a number with s, m, h or d after it;
 * 0 and *ns, or -1 if malformed, zero or too long. */
int parse_duration(const char *s, uint64_t *ns);
/* The policy in words: "newest 3 commits, and those of the last 7d",
 * "every commit". Room for it: */
#define POLICY_TEXT_LEN 96
void policy_text(const quire_retention *r, char *buf, size_t n);
/* The policy as JSON members: ,"keep_all":B,"keep_last":N|null,
 * "keep_for_ns":N */
void policy_json(FILE *out, const quire_retention *r);

#endif
