/*
 * error.h - error codes and the per-thread error message.
 *
 * Every failure path calls qerr() (or qerr_os()) once, where the details are
 * known, and passes the returned code up unchanged; quire_errmsg() then tells
 * the caller what happened without the code needing a second channel.
 */
#ifndef QUIRE_ERROR_H
#define QUIRE_ERROR_H

#include "quire.h"

/* Record a message for this thread and return code. */
int qerr(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Map an errno value (positive) to a QUIRE_E* code and record a message
 * that ends with strerror(err). */
int qerr_os(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the current message with "prefix: " and return code. */
int qerr_wrap(int code, const char *prefix);

/* The QUIRE_E* code for an errno value. */
int qerr_code(int err);

void qerr_clear(void);

/* A key for a message, into buf (QERR_KEY_BUF bytes): quoted, printable
 * bytes as they are and others as \xHH, cut after 64 bytes. */
#define QERR_KEY_BUF 300
const char *qerr_key(char *buf, const void *key, size_t klen);

#endif
