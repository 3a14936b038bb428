/*
 * error.c - quire_strerror(), quire_errmsg() and the thread-local message.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static _Thread_local char msg[512];

const char *quire_strerror(int err)
{
	switch (err) {
	case QUIRE_OK: return "success";
	case QUIRE_NOTFOUND: return "not found";
	case QUIRE_EINVAL: return "invalid argument";
	case QUIRE_ENOMEM: return "out of memory";
	case QUIRE_EIO: return "I/O error";
	case QUIRE_ENOSPC: return "no space left on device";
	case QUIRE_ECORRUPT: return "database is corrupt";
	case QUIRE_EBUSY: return "database is busy";
	case QUIRE_ERDONLY: return "database is read-only";
	case QUIRE_ETOOBIG: return "key or value too large";
	case QUIRE_EFATAL: return "handle failed after an I/O error; reopen the database";
	case QUIRE_ENOTDB: return "not a quire database";
	case QUIRE_EVERSION: return "unsupported file format version";
	case QUIRE_ENOENT: return "no such file";
	case QUIRE_EACCES: return "permission denied";
	case QUIRE_EHISTORY: return "history no longer in the file (compacted away)";
	case QUIRE_ECONFLICT: return "the key is at another version";
	case QUIRE_ETIMEDOUT: return "timed out";
	case QUIRE_ECANCELED: return "canceled";
	case QUIRE_EEXIST: return "already exists";
	default: return "unknown error";
	}
}

const char *quire_errmsg(void)
{
	return msg;
}

void qerr_clear(void)
{
	msg[0] = 0;
}

int qerr(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return code;
}

int qerr_wrap(int code, const char *prefix)
{
	size_t pl = strlen(prefix), ml = strlen(msg);
	if (pl > sizeof msg - 3)
		pl = sizeof msg - 3;
	if (pl + 2 + ml > sizeof msg - 1)
		ml = sizeof msg - 1 - pl - 2;
	memmove(msg + pl + 2, msg, ml);
	msg[pl + 2 + ml] = 0;
	memcpy(msg, prefix, pl);
	msg[pl] = ':';
	msg[pl + 1] = ' ';
	return code;
}

int qerr_code(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG: return QUIRE_ENOSPC;
	case ENOMEM: return QUIRE_ENOMEM;
	case ENOENT: return QUIRE_ENOENT;
	case EACCES:
	case EPERM: return QUIRE_EACCES;
	case EROFS: return QUIRE_ERDONLY;
	case EAGAIN: return QUIRE_EBUSY;
	case EINVAL:
	case EISDIR:
	case ENOTDIR:
	case ENAMETOOLONG: return QUIRE_EINVAL;
	default: return QUIRE_EIO;
	}
}

int qerr_os(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof msg)
		snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(err));
	return qerr_code(err);
}

const char *qerr_key(char *buf, const void *key, size_t klen)
{
	const uint8_t *k = key;
	char *p = buf;
	*p++ = '"';
	for (size_t i = 0; i < klen && i < 64; i++) {
		if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '"' && k[i] != '\\')
			*p++ = (char)k[i];
		else
			p += sprintf(p, "\\x%02x", k[i]);
	}
	p += sprintf(p, klen > 64 ? "\"..." : "\"");
	return buf;
}
