/*
 * tool.c - what every command of the quire tool shares: the help text,
 * reporting errors, opening a database, waiting for another process's
 * writer, printing times and sizes, finishing output, progress lines.
 * The command files use it; it uses none of them.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "quire.h"
#include "tool.h"
#include "tsv.h"

/* How long a writing command waits for another process's writer, in
 * steps of WAIT_STEP_MS: after the first step it says that it waits. */
#define WAIT_MS 10000
#define WAIT_STEP_MS 1000

/* A terminal gains nothing from more than about 10 redraws a second, and
 * a slow one (ssh) loses time to them. */
#define PROGRESS_INTERVAL_NS 100000000u

static const char usage_text[] =
	"usage: quire [options] COMMAND DB [ARGS]\n"
	"\n"
	"commands:\n"
	"  put DB KEY VALUE     set KEY to VALUE (VALUE -: read it from stdin)\n"
	"  get DB KEY           print the value of KEY (exit 1 if absent);\n"
	"       [--raw]         --raw: the bytes only, no newline\n"
	"  del DB KEY           delete KEY (exit 1 if absent)\n"
	"  del DB --prefix P    delete every key that starts with P, or from\n"
	"  del DB --range FROM TO  FROM up to (not including) TO, in one\n"
	"                       commit; prints how many (exit 1 if none)\n"
	"  scan DB              print keys and values in key order, as TSV\n"
	"       [--prefix P] [--start K] [--end K] [--reverse] [--limit N]\n"
	"  dump DB              print every key and value as TSV (takes the\n"
	"       [--all-keyspaces] options of scan); --all-keyspaces (-a):\n"
	"                       then each named keyspace after a line\n"
	"                       keyspace=NAME, as load reads it back\n"
	"  load DB [--batch N]  read TSV (key<TAB>value lines) from stdin, in\n"
	"       [--json]        one commit (--batch: one per N records);\n"
	"       [--changes]     --json: dump --json lines; --changes: replay\n"
	"                       what changes or changes --json printed\n"
	"  stat DB [--json]     figures of the newest commit: keys, bytes (raw,\n"
	"                       live, retained history, reclaimable), policy\n"
	"  check DB             verify everything the newest commit reaches\n"
	"                       (exit 1 if problems were found)\n"
	"  salvage DB NEW       copy what is readable of a damaged DB into\n"
	"                       NEW, listing what was lost (exit 1 if any)\n"
	"  backup DB COPY       copy DB as of its newest commit to the new\n"
	"       [--incremental] file COPY while writers go on; --incremental:\n"
	"       [--full-if-needed] append only what was committed since\n"
	"       [--compact]     COPY's newest commit (a new COPY if missing;\n"
	"                       --full-if-needed: a full copy if COPY is\n"
	"                       not an earlier copy of DB); --compact: a\n"
	"                       compacted copy, keeping what compact would\n"
	"                       (--keep-since, --keep-last as for compact)\n"
	"  ship DB [--from TXN] write DB's commits after TXN (default: all)\n"
	"       [--follow]      to stdout as a stream for quire receive;\n"
	"                       --follow: then each new commit as it lands\n"
	"  receive COPY         apply a stream from quire ship on stdin to\n"
	"       [--full-if-needed] COPY (created if missing), which serves\n"
	"                       readers meanwhile; --full-if-needed: a\n"
	"                       stream from the first byte replaces a COPY\n"
	"                       it does not extend\n"
	"  history DB           the commits, newest first (--reverse: oldest\n"
	"       [--limit N]     first): TXN TIME SEQS OPS BYTES META\n"
	"  changes DB           the operations after --since SEQ (default 0):\n"
	"       [--since SEQ]   SEQ TXN put KEY VALUE, SEQ TXN del KEY, or\n"
	"       [--follow]      SEQ TXN del_range COUNT START [END] (no END:\n"
	"       [--limit N]     to the last key); --follow: then wait for new\n"
	"                       commits until interrupted (or N operations\n"
	"                       were printed). Of every keyspace: ks=NAME\n"
	"                       after TXN in a named one, and SEQ TXN\n"
	"                       keyspace NAME, rename_keyspace OLD NEW,\n"
	"                       drop_keyspace COUNT NAME\n"
	"  log DB KEY           the versions of KEY, newest first:\n"
	"       [--limit N]     SEQ TXN TIME put VALUE, SEQ TXN TIME del, or\n"
	"                       SEQ TXN TIME del_range (a range delete or a\n"
	"                       keyspace drop); exit 1 if KEY was never\n"
	"                       written\n"
	"  diff DB A B          the keys commits A and B disagree on:\n"
	"                       + KEY VALUE (only in B), - KEY VALUE (only\n"
	"                       in A), ~ KEY VALUE_A VALUE_B\n"
	"  compact DB           copy what is still needed into a fresh file\n"
	"                       and swap it in; the commits the retention\n"
	"                       policy keeps stay readable (--keep-since,\n"
	"                       --keep-last: these instead)\n"
	"  keyspaces DB         the keyspaces: NAME KEYS BYTES, the default\n"
	"       [--json]        keyspace (empty NAME) first\n"
	"  drop-keyspace DB NAME  delete keyspace NAME and its keys\n"
	"  rename-keyspace DB OLD NEW  rename keyspace OLD to NEW\n"
	"  retention DB         print the history retention policy: which\n"
	"       [--keep-last N] commits compaction (also automatic) keeps\n"
	"       [--keep-for D]  readable; new files keep the newest only.\n"
	"       [--keep-all]    With --keep-last, --keep-for or --keep-all:\n"
	"                       set it (the options are the whole policy)\n"
	"\n"
	"options (each command takes only those that apply to it):\n"
	"  --as-of WHEN         get, scan, dump, stat: read commit WHEN: a txn\n"
	"                       id, @UNIXTIME or an ISO 8601 time (the last\n"
	"                       commit made at or before it); diff takes A\n"
	"                       and B in the same forms\n"
	"  --json               get, scan, dump, stat, history, changes, log,\n"
	"                       diff, compact, retention: one JSON object per\n"
	"                       line\n"
	"  --keyspace NAME      put, get, del, scan, dump, load, stat,\n"
	"                       changes, log, diff: in keyspace NAME, not the\n"
	"                       default one (put and load create it)\n"
	"  --escaped            KEY, VALUE, keyspace names, --prefix,\n"
	"                       --start, --end and --range are TSV-escaped\n"
	"                       as dump prints them (\\x00 for a NUL byte)\n"
	"  --keep-since WHEN    compact, backup --compact: keep every commit\n"
	"                       from WHEN on\n"
	"  --keep-last N        compact, backup --compact: keep the last N\n"
	"                       commits (N > 0);\n"
	"                       retention: keep the newest N commits\n"
	"  --keep-for DURATION  retention: also keep the commits of the last\n"
	"                       DURATION: seconds, or N with s, m, h or d\n"
	"  --keep-all           retention: keep every commit\n"
	"  --auto[=RATIO]       compact only if more than RATIO (default 0.4)\n"
	"                       of the file, and 1 MiB, is reclaimable\n"
	"  --quiet              compact: no progress bar\n"
	"  --meta TEXT          put, del, load: record TEXT with each commit\n"
	"                       (shown by history)\n"
	"  --no-wait            put, del, load, retention: fail at once if\n"
	"                       another process is writing (default: wait up\n"
	"                       to 10 s)\n"
	"  -v, --verbose        report what load did\n"
	"  -h, --help           show this help\n"
	"  --version            show the version\n"
	"\n"
	"Output fields are separated by tabs. TSV escapes \\\\ \\t \\n and other\n"
	"control or non-UTF-8 bytes as \\xHH.\n"
	"Exit status: 0 ok, 1 not found / problems, 2 error (also: no such\n"
	"commit yet, history compacted away, output not written).\n";

int bad_arg(const char *why)
{
	fprintf(stderr, "quire: %s\n", why);
	return 2;
}

void help(FILE *out)
{
	fputs(usage_text, out);
}

/* Report a quire failure on path; returns the exit status 2. The
 * library's message says what happened; it names the file the way the
 * library reached it, and a new file through "<path>.init", which the
 * user never named. */
int fail(const char *path, int e)
{
	const char *m = quire_errmsg();
	const char *at = *m ? strstr(m, path) : NULL;
	if (at) {
		const char *rest = at + strlen(path);
		if (strncmp(rest, ".init", 5) == 0)
			rest += 5;
		fprintf(stderr, "quire: %.*s%s%s\n", (int)(at - m), m, path,
			rest);
	} else if (*m) {
		fprintf(stderr, "quire: %s: %s\n", path, m);
	} else {
		fprintf(stderr, "quire: %s: %s\n", path, quire_strerror(e));
	}
	return 2;
}

/* The library would initialise a 0-byte file opened for writing, and
 * refuse it read-only; the tool refuses it always: a file someone made
 * empty is not a database a typo should turn into one. */
int refuse_empty(const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
		fprintf(stderr, "quire: %s: empty file, not a quire database\n",
			path);
		return 2;
	}
	return 0;
}

int wait_more(const struct opts *o, const char *path, int *tries)
{
	if (o->no_wait)
		return 0;
	if (++*tries == 1)
		fprintf(stderr, "quire: waiting for another process's writer "
				"on %s ...\n",
			path);
	return *tries < WAIT_MS / WAIT_STEP_MS;
}

int open_db(const struct opts *o, const char *path, int how, quire **db)
{
	quire_options qo;
	int e, rc, tries = 0;
	if ((rc = refuse_empty(path)) != 0)
		return rc;
	quire_options_init(&qo);
	qo.flags = how == OPEN_READ ? QUIRE_RDONLY
		   : how == OPEN_CREATE ? QUIRE_CREATE
					: 0;
	qo.busy_timeout_ms = o->no_wait ? 0 : WAIT_STEP_MS;
	/* creating waits for another process creating the file too */
	while ((e = quire_open(path, &qo, db)) == QUIRE_EBUSY &&
	       wait_more(o, path, &tries))
		;
	return e ? fail(path, e) : 0;
}

int begin_write(const struct opts *o, quire *db, const char *path,
		quire_txn **t)
{
	int e, tries = 0;
	while ((e = quire_begin(db, 0, t)) == QUIRE_EBUSY &&
	       wait_more(o, path, &tries))
		;
	return e;
}

int begin_write_in(const struct opts *o, quire *db, const char *path,
		   const struct ksname *ks, unsigned flags, quire_txn **t,
		   quire_txn **view)
{
	int e = begin_write(o, db, path, t);
	if (e)
		return fail(path, e);
	if ((e = keyspace_view(*t, ks, flags, view)) != 0) {
		quire_abort(*t);
		return keyspace_fail(path, ks, e);
	}
	return 0;
}

int commit_meta(const struct opts *o, quire_txn *t)
{
	return o->meta ? quire_commit_with(t, o->meta, strlen(o->meta))
		       : quire_commit(t);
}

int arg_bytes(const struct opts *o, const char *what, const char *arg,
	      char **buf, size_t *len)
{
	size_t n = strlen(arg), bad;
	if (!(*buf = malloc(n + 1))) {
		fprintf(stderr, "quire: out of memory\n");
		return 2;
	}
	memcpy(*buf, arg, n + 1);
	*len = n;
	if (o->escaped && tsv_unescape((unsigned char *)*buf, n, len, &bad)) {
		fprintf(stderr, "quire: %s: bad escape at byte %zu of \"%s\"\n",
			what, bad + 1, arg);
		free(*buf);
		*buf = NULL;
		return 2;
	}
	return 0;
}

int keyspace_arg(const struct opts *o, const char *what, const char *arg,
		 struct ksname *ks)
{
	int rc;
	*ks = (struct ksname){0};
	if (!arg)
		return 0;
	if ((rc = arg_bytes(o, what, arg, &ks->name, &ks->len)) != 0)
		return rc;
	if (ks->len && ks->len <= QUIRE_MAX_KEYSPACE_NAME)
		return 0;
	fprintf(stderr, "quire: %s: a keyspace name is 1 to %d bytes, not "
			"%zu\n",
		what, QUIRE_MAX_KEYSPACE_NAME, ks->len);
	free(ks->name);
	ks->name = NULL;
	return 2;
}

int keyspace_view(quire_txn *t, const struct ksname *ks, unsigned flags,
		  quire_txn **view)
{
	if (!ks->name) {
		*view = t;
		return 0;
	}
	return quire_keyspace(t, ks->name, ks->len, flags, view);
}

int keyspace_fail(const char *path, const struct ksname *ks, int e)
{
	if (e != QUIRE_NOTFOUND)
		return fail(path, e);
	fprintf(stderr, "quire: %s: no keyspace ", path);
	tsv_escape(stderr, (const unsigned char *)ks->name, ks->len);
	fputc('\n', stderr);
	return 1;
}

/* stdout's state: 0 fine, 1 failed and reported (said once). */
static int out_failed;

static int report_output(int err)
{
	if (!out_failed)
		fprintf(stderr, "quire: writing the output: %s\n",
			err ? strerror(err) : "write error");
	out_failed = 1;
	return 2;
}

int output_failed(void)
{
	if (!out_failed && ferror(stdout))
		report_output(errno);
	return out_failed;
}

int output_close(void)
{
	int err = 0;
	if (fflush(stdout) != 0)
		err = errno ? errno : EIO;
	if (ferror(stdout) && !err)
		err = EIO;
	if (fclose(stdout) != 0 && !err)
		err = errno;
	return err || out_failed ? report_output(err) : 0;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void iso_time(uint64_t ns, char *buf, size_t n)
{
	time_t sec = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&sec, &tm);
	size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + k, n - k, ".%09uZ", (unsigned)(ns % 1000000000u));
}

void human(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB",
					   "EiB"};
	double v = (double)n;
	int u = -1;
	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
}

void progress_start(struct progress *p)
{
	*p = (struct progress){.on = isatty(STDERR_FILENO),
			       .start_ns = now_ns()};
}

int progress_show(struct progress *p, int force, const char *fmt, ...)
{
	va_list ap;
	uint64_t t;
	if (!p->on)
		return 0;
	t = now_ns();
	if (!force && p->drawn && t - p->last_ns < PROGRESS_INTERVAL_NS)
		return 0;
	fputc('\r', stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	/* \033[K clears what a longer line drawn before left behind */
	fputs("\033[K", stderr);
	fflush(stderr);
	p->drawn = 1;
	p->last_ns = t;
	return 1;
}

void progress_clear(struct progress *p)
{
	if (!p->drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	p->drawn = 0;
}
