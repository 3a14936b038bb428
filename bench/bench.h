#ifndef BENCH_H
#define BENCH_H
#endif
