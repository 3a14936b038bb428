#ifndef TSV_H
#define TSV_H
#endif
