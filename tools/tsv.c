/*
 * tsv.c - escaping for the quire tool's tab-separated format and its JSON
 * strings (see tsv.h).
 */
#include "config.h"

#include "tsv.h"

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned min;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	unsigned cp = p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* no overlong forms, surrogates or code points past U+10FFFF */
	if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void tsv_escape(FILE *out, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t u;
		if (c == '\\') {
			fputs("\\\\", out);
		} else if (c == '\t') {
			fputs("\\t", out);
		} else if (c == '\n') {
			fputs("\\n", out);
		} else if (c >= 0x20 && c < 0x7f) {
			putc(c, out);
		} else if (c >= 0x80 && (u = utf8_len(p + i, n - i)) != 0) {
			fwrite(p + i, 1, u, out);
			i += u;
			continue;
		} else {
			putc('\\', out);
			putc('x', out);
			putc(hex[c >> 4], out);
			putc(hex[c & 15], out);
		}
		i++;
	}
}

void json_string(FILE *out, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	putc('"', out);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t u;
		if (c == '"' || c == '\\') {
			putc('\\', out);
			putc(c, out);
		} else if (c == '\n') {
			fputs("\\n", out);
		} else if (c == '\t') {
			fputs("\\t", out);
		} else if (c == '\r') {
			fputs("\\r", out);
		} else if (c >= 0x20 && c < 0x7f) {
			putc(c, out);
		} else if (c >= 0x80 && (u = utf8_len(p + i, n - i)) != 0) {
			fwrite(p + i, 1, u, out);
			i += u;
			continue;
		} else {
			/* controls and 0x7f as themselves; stray bytes (always
			 * >= 0x80) as lone low surrogates */
			fputs(c < 0x80 ? "\\u00" : "\\udc", out);
			putc(hex[c >> 4], out);
			putc(hex[c & 15], out);
		}
		i++;
	}
	putc('"', out);
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tsv_unescape(unsigned char *p, size_t n, size_t *len, size_t *bad)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (c == '\t' || c == '\n' || c == '\r') {
			*bad = i;
			return -1;
		}
		if (c != '\\') {
			p[o++] = c;
			continue;
		}
		*bad = i;
		if (++i == n)
			return -1;
		switch (p[i]) {
		case '\\': p[o++] = '\\'; break;
		case 't': p[o++] = '\t'; break;
		case 'n': p[o++] = '\n'; break;
		case 'x': {
			if (i + 2 >= n)
				return -1;
			int hi = hexval(p[i + 1]), lo = hexval(p[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			p[o++] = (unsigned char)(hi << 4 | lo);
			i += 2;
			break;
		}
		default:
			return -1;
		}
	}
	*len = o;
	return 0;
}

/* Four hex digits at p as a number, or -1. */
static long hex4(const unsigned char *p, size_t n)
{
	long v = 0;
	if (n < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

static size_t put_utf8(unsigned char *o, unsigned long cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

int json_unstring(unsigned char *p, size_t n, size_t *used, size_t *len)
{
	size_t o = 0, i = 1;
	if (!n || p[0] != '"')
		return -1;
	/* the decoded form is never longer than the escaped one, so it is
	 * written over what was read */
	while (i < n && p[i] != '"') {
		unsigned char c = p[i++];
		long u, lo;
		if (c < 0x20)
			return -1;
		if (c != '\\') {
			p[o++] = c;
			continue;
		}
		if (i == n)
			return -1;
		switch (p[i++]) {
		case '"': p[o++] = '"'; break;
		case '\\': p[o++] = '\\'; break;
		case '/': p[o++] = '/'; break;
		case 'b': p[o++] = '\b'; break;
		case 'f': p[o++] = '\f'; break;
		case 'n': p[o++] = '\n'; break;
		case 'r': p[o++] = '\r'; break;
		case 't': p[o++] = '\t'; break;
		case 'u':
			if ((u = hex4(p + i, n - i)) < 0)
				return -1;
			i += 4;
			if (u >= 0xd800 && u <= 0xdbff && i + 1 < n &&
			    p[i] == '\\' && p[i + 1] == 'u' &&
			    (lo = hex4(p + i + 2, n - i - 2)) >= 0xdc00 &&
			    lo <= 0xdfff) {
				i += 6;
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				o += put_utf8(p + o, (unsigned long)u);
			} else if (u >= 0xdc80 && u <= 0xdcff) {
				/* a byte that was not UTF-8 */
				p[o++] = (unsigned char)(u & 0xff);
			} else if (u >= 0xd800 && u <= 0xdfff) {
				return -1;
			} else {
				o += put_utf8(p + o, (unsigned long)u);
			}
			break;
		default:
			return -1;
		}
	}
	if (i == n)
		return -1;
	*used = i + 1;
	*len = o;
	return 0;
}
