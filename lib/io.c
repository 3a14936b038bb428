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

int io_writev(qvfs_file *f, struct iovec *iov, int n, uint64_t off)
{
	int zero = 0;
	while (n > 0) {
		if (!iov->iov_len) {
			iov++;
			n--;
			continue;
		}
		ssize_t r = f->ops->writev(f, iov, n < 1024 ? n : 1024, off);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return (int)r;
		if (r == 0 && ++zero > 3)
			return -EIO;
		off += (uint64_t)r;
		while (r > 0) { /* skip what was written, maybe part of one */
			size_t k = (size_t)r < iov->iov_len ? (size_t)r
							    : iov->iov_len;
			if (k) { /* an empty one may have no base at all */
				iov->iov_base = (char *)iov->iov_base + k;
				iov->iov_len -= k;
				r -= (ssize_t)k;
			}
			if (!iov->iov_len) {
				iov++;
				n--;
			}
		}
	}
	return 0;
}
