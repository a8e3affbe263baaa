/*
 * Base-128 varints as protobuf writes them: the one encoding of the
 * hand-written parts of the wire (codec.c, beats.c). Header only.
 */
#ifndef RK_NET_VARINT_H
#define RK_NET_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes rk_varint_put writes for v (1 to 10). */
static inline size_t rk_varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Writes v at p (room for rk_varint_size(v) bytes); returns the end. */
static inline uint8_t *rk_varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Reads the varint at *pp, never at or past end: false if it is cut or
 * over 64 bits (*pp and *vp then unchanged). */
static inline bool rk_varint_get(const uint8_t **pp, const uint8_t *end, uint64_t *vp)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;

	for (int shift = 0; shift < 64 && p < end; shift += 7) {
		uint8_t b = *p++;
		if (shift == 63 && b > 1)
			return false; /* over 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*pp = p;
			*vp = v;
			return true;
		}
	}
	return false;
}

#endif
