/*
 * tsv.h - the escaping of keys and values in the tool's TSV output (scan,
 * dump) and input (load), so that `dump | load` reproduces a database byte
 * for byte whatever its keys and values hold.
 *
 * Escapes: \\ for a backslash, \t tab, \n newline, \xHH (lowercase) for any
 * other byte below 0x20, 0x7f, and bytes that are not part of valid UTF-8.
 * Printable ASCII and valid multi-byte UTF-8 pass through.
 */
#ifndef QUIRE_TSV_H
#define QUIRE_TSV_H

#include <stddef.h>
#include <stdio.h>

/* Write p[0..n) escaped to out. */
void tsv_escape(FILE *out, const unsigned char *p, size_t n);

/* Unescape p[0..n) in place; *len receives the decoded length. Returns 0,
 * or -1 with *bad at the offending offset if p holds a malformed escape or
 * a raw tab or newline. */
int tsv_unescape(unsigned char *p, size_t n, size_t *len, size_t *bad);

#endif
