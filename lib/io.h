/*
 * io.h - whole-buffer transfers over the VFS. The VFS may move fewer bytes
 * than asked or fail with EINTR (as the system calls do); these loops finish
 * the job or return the first real error as a negative errno.
 */
#ifndef QUIRE_IO_H
#define QUIRE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "vfs.h"

/* Read up to n bytes; *got < n only at end of file. */
int io_read(qvfs_file *f, void *buf, size_t n, uint64_t off, size_t *got);
int io_write(qvfs_file *f, const void *buf, size_t n, uint64_t off);
/* Write the buffers back to back from off. iov is consumed (modified). */
int io_writev(qvfs_file *f, struct iovec *iov, int n, uint64_t off);

#endif
