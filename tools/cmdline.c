/*
 * cmdline.c - the quire tool's command line: the table of options, parsing
 * their values, and refusing what a command does not take. An option that
 * a command ignored would mislead (dump --prefix dumping everything), so
 * each command names the options it takes and any other one is a usage
 * error: the reason and that command's usage line, not the whole help.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "quire.h"
#include "tool.h"

static const struct optdef {
	const char *name;
	const char *alias; /* a short form, or NULL */
	const char *arg;   /* what its value is, for usage; NULL: none */
	unsigned long bit;
} optdefs[] = {
	{"--keyspace", NULL, "NAME", OPT_KEYSPACE},
	{"--all-keyspaces", "-a", NULL, OPT_ALL_KEYSPACES},
	{"--as-of", NULL, "WHEN", OPT_AS_OF},
	{"--json", NULL, NULL, OPT_JSON},
	{"--raw", NULL, NULL, OPT_RAW},
	{"--escaped", NULL, NULL, OPT_ESCAPED},
	{"--prefix", NULL, "P", OPT_PREFIX},
	{"--start", NULL, "K", OPT_START},
	{"--end", NULL, "K", OPT_END},
	{"--range", NULL, "FROM TO", OPT_RANGE}, /* two values */
	{"--reverse", NULL, NULL, OPT_REVERSE},
	{"--limit", NULL, "N", OPT_LIMIT},
	{"--batch", NULL, "N", OPT_BATCH},
	{"--meta", NULL, "TEXT", OPT_META},
	{"--no-wait", NULL, NULL, OPT_NO_WAIT},
	{"--verbose", "-v", NULL, OPT_VERBOSE},
	{"--changes", NULL, NULL, OPT_CHANGES},
	{"--since", NULL, "SEQ", OPT_SINCE},
	{"--follow", NULL, NULL, OPT_FOLLOW},
	{"--keep-since", NULL, "WHEN", OPT_KEEP_SINCE},
	{"--keep-last", NULL, "N", OPT_KEEP_LAST},
	{"--keep-for", NULL, "DURATION", OPT_KEEP_FOR},
	{"--keep-all", NULL, NULL, OPT_KEEP_ALL},
	{"--auto", NULL, "[=RATIO]", OPT_AUTO}, /* the value only after = */
	{"--quiet", NULL, NULL, OPT_QUIET},
	{"--incremental", NULL, NULL, OPT_INCREMENTAL},
	{"--full-if-needed", NULL, NULL, OPT_FULL_IF_NEEDED},
	{"--compact", NULL, NULL, OPT_COMPACT},
	{"--from", NULL, "TXN", OPT_FROM},
};

#define NOPTS (sizeof optdefs / sizeof *optdefs)

static int number(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		return -1;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

/* A ratio in [0, 1), as quire_options.auto_compact_ratio takes:
 * plain decimal only (strtod would also take "inf", hex and spaces). */
static int ratio(const char *s, double *out)
{
	char *end;
	if (!s || !*s || s[strspn(s, "0123456789.")])
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	return errno || *end || !(*out >= 0 && *out < 1) ? -1 : 0;
}

/* Option d as usage shows it: "--limit N", "--auto[=RATIO]". */
static void print_opt(const struct optdef *d)
{
	fprintf(stderr, "%s%s%s", d->name,
		d->arg && d->arg[0] != '[' ? " " : "", d->arg ? d->arg : "");
}

/* The last word of a command's arguments ("KEY" of "DB KEY"). */
static const char *last_arg(const struct command *c)
{
	const char *sp = strrchr(c->args, ' ');
	return sp ? sp + 1 : c->args;
}

/* "usage: quire CMD ARGS [options it takes]", and where the rest is; the
 * options that stand in for the last argument go with it:
 * "DB {KEY | --prefix P | --range FROM TO}". */
static void command_usage(const struct command *c)
{
	const char *last = last_arg(c);
	fprintf(stderr, "usage: quire %s ", c->name);
	if (!c->instead) {
		fputs(c->args, stderr);
	} else {
		fprintf(stderr, "%.*s{%s", (int)(last - c->args), c->args,
			last);
		for (size_t i = 0; i < NOPTS; i++)
			if (c->instead & optdefs[i].bit) {
				fputs(" | ", stderr);
				print_opt(&optdefs[i]);
			}
		fputc('}', stderr);
	}
	for (size_t i = 0; i < NOPTS; i++) {
		const struct optdef *d = &optdefs[i];
		if (!(c->takes & d->bit) || (c->instead & d->bit))
			continue;
		fputs(" [", stderr);
		print_opt(d);
		fputc(']', stderr);
	}
	fputs("\nsee quire --help\n", stderr);
}

static int usage_error(const struct command *c)
{
	if (c)
		command_usage(c);
	else
		fputs("see quire --help\n", stderr);
	return 2;
}

static const struct optdef *find_opt(const char *a, const char **value)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct optdef *d = &optdefs[i];
		size_t n = strlen(d->name);
		if (d->alias && strcmp(a, d->alias) == 0) {
			*value = NULL;
			return d;
		}
		if (strncmp(a, d->name, n) == 0 && (!a[n] || a[n] == '=')) {
			*value = a[n] == '=' ? a + n + 1 : NULL;
			return d;
		}
	}
	return NULL;
}

/* Store option d's value v (or take it from the next argument); 0, or
 * the exit status 2 with a line saying what is wrong. */
static int set_opt(struct opts *o, const struct optdef *d, const char *v,
		   int argc, char **argv, int *i)
{
	if (!d->arg && v) {
		fprintf(stderr, "quire: %s takes no value\n", d->name);
		return 2;
	}
	if (d->bit == OPT_RANGE && *i + 2 - (v != NULL) >= argc) {
		fputs("quire: --range needs FROM and TO\n", stderr);
		return 2;
	}
	if (d->arg && d->bit != OPT_AUTO && !v && *i + 1 < argc)
		v = argv[++*i];
	if (d->arg && d->bit != OPT_AUTO && !v) {
		fprintf(stderr, "quire: %s needs a value\n", d->name);
		return 2;
	}
	o->given |= d->bit;
	switch (d->bit) {
	case OPT_AS_OF:
		if (parse_point(v, &o->as_of))
			return bad_arg("--as-of needs a txn id, @UNIXTIME or "
				       "an ISO 8601 time");
		break;
	case OPT_JSON: o->json = 1; break;
	case OPT_RAW: o->raw = 1; break;
	case OPT_ESCAPED: o->escaped = 1; break;
	case OPT_PREFIX: o->prefix = v; break;
	case OPT_START: o->start = v; break;
	case OPT_END: o->end = v; break;
	case OPT_RANGE: /* FROM is the value, TO the argument after it */
		o->range_from = v;
		o->range_to = argv[++*i];
		break;
	case OPT_REVERSE: o->reverse = 1; break;
	case OPT_LIMIT:
		if (number(v, &o->limit))
			return bad_arg("--limit needs a number");
		break;
	case OPT_BATCH:
		if (number(v, &o->batch) || !o->batch)
			return bad_arg("--batch needs a number > 0");
		break;
	case OPT_META: o->meta = v; break;
	case OPT_NO_WAIT: o->no_wait = 1; break;
	case OPT_VERBOSE: o->verbose = 1; break;
	case OPT_CHANGES: o->changes = 1; break;
	case OPT_SINCE:
		/* the largest seq would leave no "next" to wait for */
		if (number(v, &o->since) || o->since == UINT64_MAX)
			return bad_arg("--since needs a sequence number");
		o->has_since = 1;
		break;
	case OPT_FOLLOW: o->follow = 1; break;
	case OPT_FROM:
		if (number(v, &o->from))
			return bad_arg("--from needs a txn id");
		break;
	case OPT_KEEP_SINCE:
		if (parse_point(v, &o->keep_since))
			return bad_arg("--keep-since needs a txn id, @UNIXTIME "
				       "or an ISO 8601 time");
		break;
	case OPT_KEEP_LAST:
		if (number(v, &o->keep_last) || !o->keep_last)
			return bad_arg("--keep-last needs a number > 0");
		break;
	case OPT_KEEP_FOR:
		if (parse_duration(v, &o->keep_for_ns))
			return bad_arg("--keep-for needs a duration > 0: "
				       "seconds, or a number with s, m, h or "
				       "d after it (90, 15m, 7d)");
		break;
	case OPT_KEEP_ALL: o->keep_all = 1; break;
	case OPT_AUTO: {
		/* the ratio only after '=': "--auto DB" names the DB; by
		 * default the library's own threshold */
		quire_options qo;
		quire_options_init(&qo);
		o->auto_ratio = qo.auto_compact_ratio;
		if (v && ratio(v, &o->auto_ratio))
			return bad_arg("--auto needs a ratio from 0 to below 1, "
				       "as in --auto=0.5");
		o->has_auto = 1;
		break;
	}
	case OPT_QUIET: o->quiet = 1; break;
	case OPT_KEYSPACE: o->keyspace = v; break;
	}
	return 0;
}

/* The arguments and options given against what command c takes. */
static int check_args(const struct opts *o, const struct command *c)
{
	unsigned long stray = o->given & ~c->takes;
	if (stray) {
		for (size_t i = 0; i < NOPTS; i++)
			if (stray & optdefs[i].bit) {
				fprintf(stderr, "quire: %s does not take %s%s\n",
					c->name, optdefs[i].name,
					c->takes & OPT_KEEP_SINCE &&
							optdefs[i].bit &
								(OPT_KEEP_FOR |
								 OPT_KEEP_ALL)
						? " (quire retention sets the "
						  "policy compact obeys)"
						: "");
				break;
			}
		return usage_error(c);
	}
	/* an option standing in for the last argument takes its place */
	unsigned long alt = o->given & c->instead;
	int npos = c->npos - (alt != 0);
	if ((alt & (alt - 1)) || (alt && o->npos > npos)) {
		fprintf(stderr, "quire: %s takes only one of %s", c->name,
			last_arg(c));
		for (size_t i = 0; i < NOPTS; i++)
			if (c->instead & optdefs[i].bit)
				fprintf(stderr, ", %s", optdefs[i].name);
		fputc('\n', stderr);
		return usage_error(c);
	}
	if (o->npos < npos) {
		fprintf(stderr, "quire: %s needs %s\n", c->name, c->args);
		return usage_error(c);
	}
	if (o->npos > npos) {
		fprintf(stderr, "quire: too many arguments for %s %s: %s%s\n",
			c->name, c->args, o->pos[npos],
			o->has_auto && ratio(o->pos[npos], &(double){0}) == 0
				? " (--auto takes its ratio after '=', as in "
				  "--auto=0.5)"
				: "");
		return usage_error(c);
	}
	return -1;
}

int parse_args(int argc, char **argv, const struct command *cmds, size_t n,
	       struct opts *o, const struct command **cmd)
{
	const char *unknown = NULL, *extra = NULL;
	int dashdash = 0, rc;
	*o = (struct opts){.limit = NO_LIMIT};
	*cmd = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		const struct optdef *d;
		if (dashdash || a[0] != '-' || !a[1]) {
			if (!o->cmd)
				o->cmd = a;
			else if (o->npos < 3)
				o->pos[o->npos++] = a;
			else if (!extra)
				extra = a;
		} else if (strcmp(a, "--") == 0) {
			dashdash = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help(stdout);
			return output_failed() ? 2 : 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("quire %s\n", quire_version(NULL, NULL, NULL));
			return 0;
		} else if ((d = find_opt(a, &v)) != NULL) {
			if ((rc = set_opt(o, d, v, argc, argv, &i)) != 0)
				return rc;
		} else if (!unknown) {
			unknown = a; /* reported with the command's usage */
		}
	}
	if (!o->cmd) {
		fputs("quire: no command\n", stderr);
		return usage_error(NULL);
	}
	for (size_t c = 0; c < n && !*cmd; c++)
		if (strcmp(o->cmd, cmds[c].name) == 0)
			*cmd = &cmds[c];
	if (!*cmd) {
		fprintf(stderr, "quire: unknown command %s\n", o->cmd);
		return usage_error(NULL);
	}
	if (unknown) {
		fprintf(stderr, "quire: unknown option %s\n", unknown);
		return usage_error(*cmd);
	}
	if (extra) {
		fprintf(stderr, "quire: too many arguments for %s %s: %s\n",
			o->cmd, (*cmd)->args, extra);
		return usage_error(*cmd);
	}
	return check_args(o, *cmd);
}
