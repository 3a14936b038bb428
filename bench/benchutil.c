/*
 * benchutil.c - what the benchmark programs share besides statistics: see
 * benchutil.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

const char *bench_prog = "bench";
_Thread_local volatile unsigned bench_sink;

double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double cpu_secs(int whole_process)
{
	struct timespec ts;
	clock_gettime(whole_process ? CLOCK_PROCESS_CPUTIME_ID
				    : CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void sleep_secs(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void bench_die(void)
{
	fflush(stdout);
	fflush(stderr);
	_exit(1);
}

void *bench_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "%s: out of memory (%zu bytes)\n", bench_prog,
			n);
		bench_die();
	}
	return p;
}

uint64_t *make_perm(uint64_t n, uint64_t seed)
{
	uint64_t *p = bench_xmalloc(n * sizeof *p);
	for (uint64_t i = 0; i < n; i++)
		p[i] = i;
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = splitmix(&seed) % i, t = p[i - 1];
		p[i - 1] = p[j];
		p[j] = t;
	}
	return p;
}

int run_in_child(void (*fn)(void *), void *arg)
{
	int st;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", bench_prog, strerror(errno));
		exit(1);
	}
	if (pid == 0) {
		fn(arg);
		fflush(stdout);
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

/* The "name: number" lines of the file at path: out[i] the number of
 * names[i], 0 where the file or the line is missing. */
static void proc_read(const char *path, const char *const *names,
		      uint64_t *out, size_t n)
{
	char line[128];
	FILE *f = fopen(path, "r");
	memset(out, 0, n * sizeof *out);
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		const char *colon = strchr(line, ':');
		unsigned long long v;
		if (!colon || sscanf(colon + 1, "%llu", &v) != 1)
			continue;
		for (size_t i = 0; i < n; i++)
			if (strlen(names[i]) == (size_t)(colon - line) &&
			    !strncmp(line, names[i], (size_t)(colon - line)))
				out[i] = v;
	}
	fclose(f);
}

void proc_mem(struct mem *m)
{
	static const char *const names[] = {"VmRSS", "VmHWM", "RssFile"};
	uint64_t v[3];
	proc_read("/proc/self/status", names, v, 3);
	*m = (struct mem){.rss = v[0], .hwm = v[1], .file = v[2]};
}

void reset_hwm(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

double mem_mb(uint64_t kib, uint64_t base_kib)
{
	return kib > base_kib ? (double)(kib - base_kib) * 1024 / 1e6 : 0;
}

void proc_io(struct io *io)
{
	static const char *const names[] = {"rchar", "wchar", "write_bytes"};
	uint64_t v[3];
	proc_read("/proc/self/io", names, v, 3);
	*io = (struct io){.rchar = v[0], .wchar = v[1], .write_bytes = v[2]};
}

/* dir/name into path[0..n): 0, or -1 if it does not fit. */
static int join(char *path, size_t n, const char *dir, const char *name)
{
	int w = snprintf(path, n, "%s/%s", dir, name);
	return w > 0 && (size_t)w < n ? 0 : -1;
}

uint64_t dir_scan(const char *dir, uint64_t *copies)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t total = 0;
	char path[4096];
	struct stat st;
	*copies = 0;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (join(path, sizeof path, dir, e->d_name) ||
		    stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		total += (uint64_t)st.st_size;
		if (n > 8 && strcmp(e->d_name + n - 8, ".compact") == 0)
			*copies += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

uint64_t dir_bytes(const char *dir)
{
	uint64_t copies;
	return dir_scan(dir, &copies);
}

void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	if (!d)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    !join(path, sizeof path, dir, e->d_name))
			unlink(path);
	closedir(d);
	rmdir(dir);
}

void warm_up(const char *dir, size_t mb)
{
	char path[4096];
	size_t chunk = (size_t)1 << 20;
	char *buf = calloc(1, chunk);
	snprintf(path, sizeof path, "%s/warmup", dir);
	FILE *f = fopen(path, "w");
	for (size_t i = 0; f && buf && i < mb; i++)
		fwrite(buf, 1, chunk, f);
	if (f)
		fclose(f);
	unlink(path);
	free(buf);
}

int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*out = v;
	return 0;
}

/* Is the item p[0..len) the string s? */
static int item_is(const char *p, size_t len, const char *s)
{
	return s && strlen(s) == len && !strncmp(p, s, len);
}

int in_list(const char *list, const char *name)
{
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (item_is(p, len, name))
			return 1;
		p += len + (end != NULL);
	}
	return 0;
}

const char *list_unknown(const char *list, const char *const *names,
			 size_t n, const char *extra, size_t *len)
{
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t i;
		*len = end ? (size_t)(end - p) : strlen(p);
		for (i = 0; i < n && !item_is(p, *len, names[i]); i++)
			;
		if (i == n && !item_is(p, *len, extra))
			return p;
		p += *len + (end != NULL);
	}
	return NULL;
}
