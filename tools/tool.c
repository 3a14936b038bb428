/*
 * tool.c - what every command of the quire tool shares: the help text,
 * reporting errors, opening a database, printing times, finishing output.
 * The command files use it; it uses none of them.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "quire.h"
#include "tool.h"

/* How long a writing command waits for another process's writer. */
#define WAIT_MS 10000

static const char usage_text[] =
	"usage: quire [options] COMMAND DB [ARGS]\n"
	"\n"
	"commands:\n"
	"  put DB KEY VALUE     set KEY to VALUE\n"
	"  get DB KEY           print the value of KEY (exit 1 if absent)\n"
	"  del DB KEY           delete KEY (exit 1 if absent)\n"
	"  scan DB              print keys and values in key order, as TSV\n"
	"       [--prefix P] [--start K] [--end K] [--reverse] [--limit N]\n"
	"  load DB [--batch N]  read TSV (key<TAB>value lines) from stdin;\n"
	"                       one commit per N lines (default: one in all)\n"
	"  dump DB              print every key and value as TSV\n"
	"  stat DB [--json]     figures of the newest commit: keys, bytes (raw,\n"
	"                       live, retained history, reclaimable), policy\n"
	"  check DB             verify everything the newest commit reaches\n"
	"                       (exit 1 if problems were found)\n"
	"  salvage DB NEW       copy what is readable of a damaged DB into\n"
	"                       NEW, listing what was lost (exit 1 if any)\n"
	"  history DB           the commits, newest first (--reverse: oldest\n"
	"       [--limit N]     first): TXN TIME SEQS OPS BYTES META\n"
	"  changes DB           the operations after --since SEQ (default 0):\n"
	"       [--since SEQ]   SEQ TXN put KEY VALUE, or SEQ TXN del KEY;\n"
	"       [--follow]      --follow: then wait for new commits until\n"
	"       [--limit N]     interrupted (or N operations were printed)\n"
	"  log DB KEY           the versions of KEY, newest first:\n"
	"       [--limit N]     SEQ TXN TIME put VALUE, or SEQ TXN TIME del\n"
	"                       (exit 1 if KEY was never written)\n"
	"  diff DB A B          the keys commits A and B disagree on:\n"
	"                       + KEY VALUE (only in B), - KEY VALUE (only\n"
	"                       in A), ~ KEY VALUE_A VALUE_B\n"
	"  compact DB           copy what is still needed into a fresh file\n"
	"                       and swap it in; the commits the retention\n"
	"                       policy keeps stay readable (--keep-since,\n"
	"                       --keep-last: these instead)\n"
	"  retention DB         print the history retention policy: which\n"
	"       [--keep-last N] commits compaction (also automatic) keeps\n"
	"       [--keep-for D]  readable; new files keep the newest only.\n"
	"       [--keep-all]    With --keep-last, --keep-for or --keep-all:\n"
	"                       set it (the options are the whole policy)\n"
	"\n"
	"options:\n"
	"  --as-of TXN          get, scan, dump, stat: read commit TXN, or\n"
	"  --as-of @UNIXTIME    the last one made at or before the time\n"
	"                       (seconds since 1970, fractions allowed);\n"
	"                       diff takes A and B in the same forms\n"
	"  --json               stat, history, changes, log, diff, compact,\n"
	"                       retention: one JSON object per line\n"
	"  --keep-since WHEN    compact: keep every commit from WHEN on (a txn\n"
	"                       id, or @UNIXTIME: those made at or after it)\n"
	"  --keep-last N        compact: keep the last N commits (N > 0);\n"
	"                       retention: keep the newest N commits\n"
	"  --keep-for DURATION  retention: also keep the commits of the last\n"
	"                       DURATION: seconds, or N with s, m, h or d\n"
	"  --keep-all           retention: keep every commit\n"
	"  --auto[=RATIO]       compact only if more than RATIO (default 0.4)\n"
	"                       of the file, and 1 MiB, is reclaimable\n"
	"  --quiet              compact: no progress bar\n"
	"  --meta TEXT          put, del, load: record TEXT with each commit\n"
	"                       (shown by history)\n"
	"  --no-wait            fail at once if another process is writing\n"
	"                       (writing commands wait up to 10 s by default;\n"
	"                       compact waits until it can finish)\n"
	"  -v, --verbose        report what load did\n"
	"  -h, --help           show this help\n"
	"  --version            show the version\n"
	"\n"
	"Output fields are separated by tabs. TSV escapes \\\\ \\t \\n and other\n"
	"control or non-UTF-8 bytes as \\xHH.\n"
	"Exit status: 0 ok, 1 not found / problems, 2 error (also: no such\n"
	"commit yet, history compacted away).\n";

/* A bad option value or combination: one line saying what is wrong. */
int bad_arg(const char *why)
{
	fprintf(stderr, "quire: %s\n", why);
	return 2;
}

void help(FILE *out)
{
	fputs(usage_text, out);
}

int usage(const char *why)
{
	if (why)
		fprintf(stderr, "quire: %s\n", why);
	help(stderr);
	return 2;
}

/* Report a quire failure on path; returns the exit status 2. */
int fail(const char *path, int e)
{
	const char *m = quire_errmsg();
	if (*m && strstr(m, path))
		fprintf(stderr, "quire: %s (%s)\n", m, quire_strerror(e));
	else if (*m)
		fprintf(stderr, "quire: %s: %s: %s\n", path, quire_strerror(e),
			m);
	else
		fprintf(stderr, "quire: %s: %s\n", path, quire_strerror(e));
	return 2;
}

int open_db(const struct opts *o, const char *path, int how, quire **db)
{
	quire_options qo;
	quire_options_init(&qo);
	qo.flags = how == OPEN_READ ? QUIRE_RDONLY
		   : how == OPEN_CREATE ? QUIRE_CREATE
					: 0;
	qo.busy_timeout_ms = o->no_wait ? 0 : WAIT_MS;
	int e = quire_open(path, &qo, db);
	return e ? fail(path, e) : 0;
}

int output_done(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "quire: writing output: %s\n", strerror(errno));
		return 2;
	}
	return 0;
}

void iso_time(uint64_t ns, char *buf, size_t n)
{
	time_t sec = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&sec, &tm);
	size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + k, n - k, ".%09uZ", (unsigned)(ns % 1000000000u));
}
