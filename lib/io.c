/*
 * io.c - retry loops for short and interrupted transfers.
 */
#include "config.h"

#include <errno.h>

#include "io.h"

int io_read(qvfs_file *f, void *buf, size_t n, uint64_t off, size_t *got)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = f->ops->read(f, (char *)buf + done, n - done,
					 off + done);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return (int)r;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return 0;
}

int io_write(qvfs_file *f, const void *buf, size_t n, uint64_t off)
{
	size_t done = 0;
	int zero = 0;
	while (done < n) {
		ssize_t r = f->ops->write(f, (const char *)buf + done,
					  n - done, off + done);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return (int)r;
		if (r == 0 && ++zero > 3) /* no progress and no error */
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}
