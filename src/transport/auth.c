/*
 * The handshake's keys, nonces and proofs (auth.h), all by libsodium.
 */
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "le.h"
#include "rangekv/error.h"

/* Labels keep these hashes apart from any other use of the same secret. */
static const char key_label[] = "rangekv cluster secret v1";
static const char proof_label[] = "rangekv handshake v1";

int rk_net_auth_init(void)
{
	return sodium_init() < 0 ? RK_EIO : 0;
}

void rk_net_auth_key(const uint8_t *secret, size_t len, uint8_t keyp[RK_NET_KEY])
{
	crypto_generichash_state st;

	/* The secret may be any length; its keyed hash is a key of the size
	 * the MAC wants. */
	crypto_generichash_init(&st, (const unsigned char *)key_label,
				sizeof(key_label) - 1, RK_NET_KEY);
	crypto_generichash_update(&st, secret, len);
	crypto_generichash_final(&st, keyp, RK_NET_KEY);
	sodium_memzero(&st, sizeof(st));
}

void rk_net_auth_nonce(uint8_t *nonce)
{
	randombytes_buf(nonce, RK_NET_NONCE);
}

void rk_net_auth_proof(const uint8_t key[RK_NET_KEY], enum rk_net_role role,
		       const struct rk_net_transcript *t, uint8_t proofp[RK_NET_PROOF])
{
	crypto_generichash_state st;
	uint8_t fixed[1 + 8 + 8 + 8 + 4];

	fixed[0] = (uint8_t)role;
	rk_le_put64(fixed + 1, t->cluster_id);
	rk_le_put64(fixed + 9, t->dialer);
	rk_le_put64(fixed + 17, t->acceptor);
	rk_le_put32(fixed + 25, t->channel);
	crypto_generichash_init(&st, key, RK_NET_KEY, RK_NET_PROOF);
	crypto_generichash_update(&st, (const unsigned char *)proof_label,
				  sizeof(proof_label));
	crypto_generichash_update(&st, fixed, sizeof(fixed));
	crypto_generichash_update(&st, t->nonce_d, RK_NET_NONCE);
	crypto_generichash_update(&st, t->nonce_a, RK_NET_NONCE);
	crypto_generichash_final(&st, proofp, RK_NET_PROOF);
}

bool rk_net_auth_check(const uint8_t key[RK_NET_KEY], enum rk_net_role role,
		       const struct rk_net_transcript *t, const uint8_t *proof,
		       size_t len)
{
	uint8_t want[RK_NET_PROOF];
	bool ok;

	if (len != RK_NET_PROOF)
		return false;
	rk_net_auth_proof(key, role, t, want);
	ok = sodium_memcmp(want, proof, RK_NET_PROOF) == 0;
	sodium_memzero(want, sizeof(want));
	return ok;
}
