/*
 * compact.c - online compaction (being written; see HACKING.md).
 */
#include "config.h"

#include <string.h>

#include "error.h"
#include "internal.h"

void quire_compact_options_init(quire_compact_options *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof *opts);
	opts->version = QUIRE_COMPACT_OPTIONS_VERSION;
}

int quire_compact(quire *db, const quire_compact_options *opts)
{
	(void)db;
	(void)opts;
	return qerr(QUIRE_EINVAL, "quire_compact: not implemented yet");
}
