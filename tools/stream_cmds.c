/*
 * stream_cmds.c - the quire tool's ship and receive commands: a database's
 * committed bytes as a stream on stdout (quire_ship), and a copy built or
 * extended from one on stdin (quire_receive), so that a pipe, ssh or
 * anything that carries bytes makes a follower:
 *
 *     quire ship --follow db | ssh host quire receive copy
 *
 * See quire(1) and docs/REPLICATION.md.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmdline.h"
#include "tool.h"

struct fd_io {
	int fd;
	int err; /* errno of the failed transfer */
};

/* Unbuffered: a following stream must not sit in a buffer. */
static int write_fd(void *ctx, const void *buf, size_t len)
{
	struct fd_io *io = ctx;
	const char *p = buf;
	while (len) {
		ssize_t n = write(io->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			io->err = errno;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_fd(void *ctx, void *buf, size_t len, size_t *got)
{
	struct fd_io *io = ctx;
	for (;;) {
		ssize_t n = read(io->fd, buf, len);
		if (n >= 0) {
			*got = (size_t)n;
			return 0;
		}
		if (errno != EINTR) {
			io->err = errno;
			return -1;
		}
	}
}

int cmd_ship(const struct opts *o)
{
	const char *src = o->pos[0];
	struct fd_io out = {.fd = STDOUT_FILENO};
	quire_stream_stats st;
	quire *db;
	int e, rc;
	if (isatty(STDOUT_FILENO)) {
		fprintf(stderr, "quire: ship writes a binary stream: send it "
				"to quire receive (a pipe) or a file\n");
		return 2;
	}
	if ((rc = refuse_empty(src)) != 0 ||
	    (rc = open_db(o, src, OPEN_READ, &db)) != 0)
		return rc;
	signal(SIGPIPE, SIG_IGN); /* a receiver gone: EPIPE, reported */
	e = quire_ship(db, o->from, o->follow ? QUIRE_SHIP_FOLLOW : 0,
		       write_fd, &out, &st);
	if (e == QUIRE_ECANCELED) {
		fprintf(stderr, "quire: %s: shipping: stdout: %s\n", src,
			strerror(out.err));
		rc = 2;
	} else if (e) {
		rc = fail(src, e);
	} else if (o->verbose) {
		fprintf(stderr, "%s: shipped up to commit %" PRIu64 " (%" PRIu64
				" bytes)\n",
			src, st.txn, st.bytes);
	}
	quire_close(db);
	return rc;
}

int cmd_receive(const struct opts *o)
{
	const char *dst = o->pos[0];
	struct fd_io in = {.fd = STDIN_FILENO};
	quire_stream_stats st;
	unsigned flags = (o->given & OPT_FULL_IF_NEEDED)
				 ? QUIRE_RECEIVE_FULL_IF_NEEDED
				 : 0;
	if (isatty(STDIN_FILENO)) {
		fprintf(stderr, "quire: receive reads a stream from quire ship "
				"on stdin, not from a terminal\n");
		return 2;
	}
	int e = quire_receive(dst, NULL, flags, read_fd, &in, &st);
	if (e == QUIRE_EIO && in.err)
		fprintf(stderr, "quire: %s: receiving: stdin: %s\n", dst,
			strerror(in.err));
	else if (e)
		fail(dst, e);
	if (e == QUIRE_ECONFLICT)
		fprintf(stderr, "quire: %s is left as it was%s\n", dst,
			flags ? ""
			      : "; --full-if-needed replaces it with a stream "
				"from the first byte");
	if (e)
		return 2;
	if (st.txn == st.txn_before && st.commits == 0)
		printf("%s: up to date at commit %" PRIu64 "\n", dst, st.txn);
	else
		printf("%s: received commits up to %" PRIu64 " (%" PRIu64
		       " bytes written)\n",
		       dst, st.txn, st.bytes);
	return 0;
}
