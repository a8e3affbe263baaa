/*
 * Little-endian integers in byte buffers: the one encoding every rangekv
 * format (frames, stored rows, commands, descriptors) uses for its fixed
 * fields. Header only and libc only, so the raft core may use it too.
 */
#ifndef RK_COMMON_LE_H
#define RK_COMMON_LE_H

#include <stdint.h>

static inline void rk_le_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void rk_le_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The n-byte (n <= 8) little-endian integer at p. */
static inline uint64_t rk_le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint32_t rk_le_get32(const uint8_t *p)
{
	return (uint32_t)rk_le_get(p, 4);
}

static inline uint64_t rk_le_get64(const uint8_t *p)
{
	return rk_le_get(p, 8);
}

#endif
