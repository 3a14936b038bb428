/*
 * stats.c - order statistics for the benchmark programs. Nearest rank, not
 * interpolation: every figure printed is one that was measured.
 */
#include "config.h"

#include <stdlib.h>

#include "stats.h"

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

void stats_sort(double *a, size_t n)
{
	qsort(a, n, sizeof *a, dbl_cmp);
}

double stats_pct(const double *a, size_t n, double p)
{
	if (!n)
		return 0;
	double x = p * (double)n;
	size_t r = (size_t)x;
	if ((double)r < x)
		r++;
	return a[(r ? r : 1) - 1];
}

struct stats_range stats_range(double *a, size_t n)
{
	struct stats_range r = {n, 0, 0, 0};
	if (!n)
		return r;
	stats_sort(a, n);
	r.med = stats_pct(a, n, 0.5);
	r.min = a[0];
	r.max = a[n - 1];
	return r;
}
