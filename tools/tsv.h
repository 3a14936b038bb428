/*
 * tsv.h - the escaping of keys and values in the tool's TSV output (scan,
 * dump, changes, ...) and input (load), so that `dump | load` reproduces a
 * database byte for byte whatever its keys and values hold; and of the same
 * bytes as JSON strings (--json).
 *
 * TSV escapes: \\ for a backslash, \t tab, \n newline, \xHH (lowercase) for
 * any other byte below 0x20, 0x7f, and bytes that are not part of valid
 * UTF-8. Printable ASCII and valid multi-byte UTF-8 pass through.
 */
#ifndef QUIRE_TSV_H
#define QUIRE_TSV_H

#include <stddef.h>
#include <stdio.h>

/* Write p[0..n) escaped to out. */
void tsv_escape(FILE *out, const unsigned char *p, size_t n);

/* Unescape p[0..n) in place; *len receives the decoded length. Returns 0,
 * or -1 with *bad at the offending offset if p holds a malformed escape or
 * a raw tab, newline or carriage return. */
int tsv_unescape(unsigned char *p, size_t n, size_t *len, size_t *bad);

/* Write p[0..n) to out as a JSON string, quotes included. Valid UTF-8
 * passes through; quote, backslash and control bytes get JSON escapes; a
 * byte that is not part of valid UTF-8 becomes the lone surrogate \udcHH
 * (as Python's "surrogateescape" decodes it), so no byte is lost and no
 * such string can be mistaken for one made of valid text. */
void json_string(FILE *out, const unsigned char *p, size_t n);

/* Decode the JSON string that starts (with its quote) at p[0], of at most
 * n bytes, in place: p[0..*len) receives its bytes, *used the bytes it
 * took, closing quote included. \udcHH (a lone low surrogate) gives the
 * byte 0xHH, as json_string() writes it; other escapes as in JSON. 0, or
 * -1 if malformed. */
int json_unstring(unsigned char *p, size_t n, size_t *used, size_t *len);

#endif
