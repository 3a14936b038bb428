/*
 * tool.h - what the quire tool's command files share: the parsed command
 * line, error reporting, opening a database, waiting for another process's
 * writer, finishing output, progress lines, and beginning a snapshot of the
 * newest commit or of one in the past.
 */
#ifndef QUIRE_TOOL_H
#define QUIRE_TOOL_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#include "quire.h"

/* A commit named on the command line: an id, "@UNIXTIME" or an ISO 8601
 * time for the last commit made at or before that time. */
struct point {
	int set;     /* 0: none given, the newest commit */
	int by_time;
	uint64_t v;  /* the txn id, or the time in ns since 1970 */
};

/* "No --limit": every line. */
#define NO_LIMIT ((unsigned long long)-1)

struct opts {
	const char *cmd;
	const char *pos[3];
	int npos;
	unsigned long given;      /* the OPT_* bits of the options given */
	int no_wait, verbose, json, reverse, follow, has_since;
	int raw, escaped, changes;
	const char *prefix, *start, *end;
	const char *range_from, *range_to; /* del --range FROM TO */
	const char *meta;         /* metadata of the commits made */
	const char *keyspace;     /* --keyspace NAME, as given */
	unsigned long long limit; /* NO_LIMIT unless given */
	unsigned long long batch; /* 0: one commit */
	unsigned long long since; /* changes after this sequence number */
	unsigned long long from;  /* ship: the commit the stream extends */
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
int bad_arg(const char *why); /* one line */
int fail(const char *path, int e);
/* A file of 0 bytes is no database for any command (2 and a message). */
int refuse_empty(const char *path);
int open_db(const struct opts *o, const char *path, int how, quire **db);
/* Whether to try a write once more after QUIRE_EBUSY: writers wait in
 * steps so that a long wait is announced; *tries starts at 0. */
int wait_more(const struct opts *o, const char *path, int *tries);
/* Begin the write transaction, waiting as wait_more() says. */
int begin_write(const struct opts *o, quire *db, const char *path,
		quire_txn **t);
int commit_meta(const struct opts *o, quire_txn *t); /* with --meta */
void iso_time(uint64_t ns, char *buf, size_t n);
uint64_t now_ns(void); /* the monotonic clock */
int output_failed(void); /* stdout failed: reported once, then 1 */
int output_close(void);  /* at exit: flush and close stdout, 0 or 2 */
/* A key or value given on the command line, unescaped (TSV escapes) with
 * --escaped; *buf receives memory to free. 0, or 2 once reported. */
int arg_bytes(const struct opts *o, const char *what, const char *arg,
	      char **buf, size_t *len);

/* A keyspace named on the command line; name NULL: the default one. */
struct ksname {
	char *name; /* to free */
	size_t len;
};
/* Keyspace name arg (NULL: the default keyspace) as bytes, unescaped with
 * --escaped as a key is; what names it in messages. A name is 1 to
 * QUIRE_MAX_KEYSPACE_NAME bytes. 0, or 2 once reported. */
int keyspace_arg(const struct opts *o, const char *what, const char *arg,
		 struct ksname *ks);
/* The view of keyspace ks in t, or t itself for the default keyspace (so
 * that its changes feed reports every keyspace); flags as for
 * quire_keyspace(). A quire error code. */
int keyspace_view(quire_txn *t, const struct ksname *ks, unsigned flags,
		  quire_txn **view);
/* Report keyspace_view()'s error e: QUIRE_NOTFOUND is "no keyspace NAME"
 * and the exit status 1 ("no", as for a key); anything else fail(). */
int keyspace_fail(const char *path, const struct ksname *ks, int e);

/* begin_write(), then the view *view of keyspace ks in it (flags as for
 * quire_keyspace()). 0, or the exit status once reported, nothing left
 * begun. */
int begin_write_in(const struct opts *o, quire *db, const char *path,
		   const struct ksname *ks, unsigned flags, quire_txn **t,
		   quire_txn **view);

/* A line of progress on a terminal (stderr only), redrawn in place about
 * ten times a second and cleared at the end. */
struct progress {
	int on;
	int drawn;
	uint64_t last_ns, start_ns;
};
void progress_start(struct progress *p);
/* Redraw with printf-style text if it is time to (or force); 1 if it
 * was drawn. */
int progress_show(struct progress *p, int force, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void progress_clear(struct progress *p);
/* "812 B", "1.4 MiB" */
void human(uint64_t n, char *buf, size_t len);

/* In tools/history_cmds.c. */
/* Parse "TXN", "@SECONDS[.FRACTION]" or an ISO 8601 time; 0, or -1. */
int parse_point(const char *s, struct point *p);
/* Begin a read snapshot of the commit p names (the newest if none). */
int begin_point(quire *db, const char *path, const struct point *p,
		quire_txn **txn);
/* begin_point(), then the view *view of keyspace ks in it. 0, or the
 * exit status once reported (1: no such keyspace), nothing left begun. */
int begin_point_in(quire *db, const char *path, const struct point *p,
		   const struct ksname *ks, quire_txn **txn, quire_txn **view);
int cmd_history(const struct opts *o);
int cmd_changes(const struct opts *o);
int cmd_log(const struct opts *o);
int cmd_diff(const struct opts *o);

/* In tools/compact_cmd.c: compact, and retention (the policy that
 * compact obeys). */
int cmd_compact(const struct opts *o);
/* --keep-since and --keep-last as *co (compact, backup --compact),
 * refused when --keep-since names a commit db does not have yet: 0, or
 * the exit status 2 with the reason printed. */
int keep_options(const struct opts *o, const char *path, quire *db,
		 quire_compact_options *co);
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

/* In tools/stream_cmds.c. */
int cmd_ship(const struct opts *o);
int cmd_receive(const struct opts *o);

/* In tools/load_cmd.c. */
int cmd_load(const struct opts *o);

/* In tools/keyspace_cmds.c. */
int cmd_keyspaces(const struct opts *o);
int cmd_drop_keyspace(const struct opts *o);
int cmd_rename_keyspace(const struct opts *o);

#endif
