/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every block in a quire
 * file. Uses the SSE4.2 crc32 instruction when the CPU has it (checked once
 * at run time) and a table-driven fallback otherwise; both give the same
 * values.
 */
#ifndef QUIRE_CRC32C_H
#define QUIRE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: crc32c(crc32c(0, a), b) == crc32c(0, a ++ b). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The software implementation, exposed so tests can compare the two. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
