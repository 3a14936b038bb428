/*
 * stats.h - order statistics for the benchmark programs (stats.c):
 * sorting samples and reading percentiles from them.
 */
#ifndef QUIRE_BENCH_STATS_H
#define QUIRE_BENCH_STATS_H

#include <stddef.h>

/* Sort a[0..n) ascending. */
void stats_sort(double *a, size_t n);
/* The nearest-rank percentile p (0 < p <= 1) of sorted a[0..n); 0 when
 * n is 0. */
double stats_pct(const double *a, size_t n, double p);

/* The median (nearest rank), least and greatest of a[0..n), which it
 * sorts; all 0 when n is 0. */
struct stats_range {
	size_t n;
	double med, min, max;
};
struct stats_range stats_range(double *a, size_t n);

#endif
