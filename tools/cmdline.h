/*
 * cmdline.h - the quire tool's command line: every option, which commands
 * take it, and the commands' arguments (see cmdline.c).
 */
#ifndef QUIRE_CMDLINE_H
#define QUIRE_CMDLINE_H

#include <stddef.h>

#include "tool.h"

/* One bit per option, for struct command.takes and struct opts.given. */
#define OPT_AS_OF (1ul << 0)
#define OPT_JSON (1ul << 1)
#define OPT_RAW (1ul << 2)
#define OPT_ESCAPED (1ul << 3)
#define OPT_PREFIX (1ul << 4)
#define OPT_START (1ul << 5)
#define OPT_END (1ul << 6)
#define OPT_REVERSE (1ul << 7)
#define OPT_LIMIT (1ul << 8)
#define OPT_BATCH (1ul << 9)
#define OPT_META (1ul << 10)
#define OPT_NO_WAIT (1ul << 11)
#define OPT_VERBOSE (1ul << 12)
#define OPT_CHANGES (1ul << 13)
#define OPT_SINCE (1ul << 14)
#define OPT_FOLLOW (1ul << 15)
#define OPT_KEEP_SINCE (1ul << 16)
#define OPT_KEEP_LAST (1ul << 17)
#define OPT_KEEP_FOR (1ul << 18)
#define OPT_KEEP_ALL (1ul << 19)
#define OPT_AUTO (1ul << 20)
#define OPT_QUIET (1ul << 21)
#define OPT_INCREMENTAL (1ul << 22)
#define OPT_FULL_IF_NEEDED (1ul << 23)
#define OPT_COMPACT (1ul << 24)
#define OPT_FROM (1ul << 26)
#define OPT_RANGE (1ul << 27) /* del --range FROM TO */
#define OPT_KEYSPACE (1ul << 28)
#define OPT_ALL_KEYSPACES (1ul << 29) /* dump */

/* The range options of scan and dump. */
#define OPT_SCAN_RANGE \
	(OPT_PREFIX | OPT_START | OPT_END | OPT_REVERSE | OPT_LIMIT)

struct command {
	const char *name;
	const char *args;    /* "DB KEY VALUE": its arguments, for usage */
	int npos;            /* how many */
	unsigned long takes; /* the options it takes */
	/* Options that stand in for its last argument, one at a time (del:
	 * --prefix or --range instead of KEY); they are in takes too. */
	unsigned long instead;
	int (*fn)(const struct opts *o);
};

/* Parse the command line into *o and find its command in cmds[0..n).
 * Returns -1 when *cmd should run; otherwise the exit status, the help,
 * version or the reason (with the command's usage line) printed. */
int parse_args(int argc, char **argv, const struct command *cmds, size_t n,
	       struct opts *o, const struct command **cmd);

#endif
