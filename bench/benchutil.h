/*
 * benchutil.h - what the benchmark programs share besides statistics
 * (benchutil.c): the clock, the random numbers, a child process's way out,
 * its memory and I/O from /proc, the scratch directories and the command
 * line's numbers and lists.
 */
#ifndef QUIRE_BENCH_UTIL_H
#define QUIRE_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The program's name in bench_xmalloc's message; main sets it. */
extern const char *bench_prog;

/* Seconds on the monotonic clock. */
double now(void);
/* CPU seconds the calling thread (whole_process: its process, every
 * thread of it) has used. */
double cpu_secs(int whole_process);
/* Sleep s seconds, through signals. */
void sleep_secs(double s);
/* The next number of the splitmix64 sequence *s. */
uint64_t splitmix(uint64_t *s);

/* A child's way out: its output is flushed, nothing else runs (no atexit
 * handlers, no static destructors of the C++ engines while their threads
 * may still run). */
void bench_die(void);
/* malloc, or bench_prog's message and bench_die(). */
void *bench_xmalloc(size_t n);
/* The numbers 0..n-1 in random order (from bench_xmalloc). */
uint64_t *make_perm(uint64_t n, uint64_t seed);
/* Run fn(arg) in a child process, which then flushes stdout and leaves
 * with status 0 (stdout and stderr are flushed before the fork, so that
 * nothing is written twice); the child's wait status. A failed fork ends
 * the program. */
int run_in_child(void (*fn)(void *), void *arg);

/* Read the first and last byte of what a scan or lookup returns, so that
 * "touching" the data is measured and cannot be optimised away (one sink
 * per thread: readers may run in threads). */
extern _Thread_local volatile unsigned bench_sink;
static inline void touch(const void *p, size_t n)
{
	if (n)
		bench_sink += ((const unsigned char *)p)[0] +
			      ((const unsigned char *)p)[n - 1];
}

/* Memory of this process from /proc/self/status, KiB; zeros where
 * unavailable. */
struct mem {
	uint64_t rss, hwm, file;	/* VmRSS, VmHWM, RssFile */
};
void proc_mem(struct mem *m);
/* Start VmHWM afresh from the present VmRSS (Linux 4.0 on; elsewhere the
 * peak may include what the process held before). */
void reset_hwm(void);
/* Memory a process added: kib minus base_kib, in MB (0 if none). */
double mem_mb(uint64_t kib, uint64_t base_kib);

/* rchar/wchar (bytes passed to read and write calls) and write_bytes
 * (storage writes) of this process, from /proc/self/io; zeros where
 * unavailable. */
struct io {
	uint64_t rchar, wchar, write_bytes;
};
void proc_io(struct io *io);

/* The regular files directly in dir: their bytes (*copies: only those
 * of a compaction's copy, "*.compact", which coexists with the database
 * file while the compaction runs). */
uint64_t dir_scan(const char *dir, uint64_t *copies);
/* Size of the regular files directly in dir. */
uint64_t dir_bytes(const char *dir);
/* Remove the files directly in dir, then dir. */
void rm_dir(const char *dir);
/* Write and remove a scratch file of mb MiB in dir: on virtual machines
 * the first touch of memory the guest has not used recently costs a fault
 * in the host, which would otherwise fall on whichever engine runs first. */
void warm_up(const char *dir, size_t mb);

/* A decimal number (no sign): 0, or -1 if s is not one. */
int parse_u64(const char *s, uint64_t *out);
/* Is name one of the comma-separated list's items? */
int in_list(const char *list, const char *name);
/* The first item of the comma-separated list that is neither one of
 * names[0..n) nor extra (NULL: none), its length in *len; NULL when every
 * item is known. */
const char *list_unknown(const char *list, const char *const *names,
			 size_t n, const char *extra, size_t *len);

#endif
