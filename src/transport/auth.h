/*
 * The handshake's cryptography (libsodium): the key made from a cluster
 * secret, fresh nonces, and the proofs each side of a connection sends.
 *
 * A proof is BLAKE2b keyed with the key (crypto_generichash, 32 bytes) over
 * the handshake's transcript: a label and the role of the prover (dialer or
 * acceptor), the cluster id, both node ids, the channel and both nonces.
 * Each side's proof covers the nonce the other side just drew, so a proof
 * recorded from one handshake is worthless in the next, and the role in it
 * keeps a node's own proof from being reflected back at it.
 *
 * Thread safe once rk_net_auth_init has returned 0.
 */
#ifndef RK_NET_AUTH_H
#define RK_NET_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#define RK_NET_KEY 32

enum rk_net_role { RK_NET_DIALER = 1, RK_NET_ACCEPTOR = 2 };

/* What both sides of one handshake agree on. */
struct rk_net_transcript {
	uint64_t cluster_id, dialer, acceptor;
	uint32_t channel;
	uint8_t nonce_d[RK_NET_NONCE], nonce_a[RK_NET_NONCE];
};

/* Initialises libsodium (any number of calls); RK_EIO if it cannot. */
int rk_net_auth_init(void);
/* The key for secret[0..len) (len > 0). */
void rk_net_auth_key(const uint8_t *secret, size_t len, uint8_t keyp[RK_NET_KEY]);
/* Fills nonce with RK_NET_NONCE random bytes. */
void rk_net_auth_nonce(uint8_t *nonce);
/* The proof of role over t. */
void rk_net_auth_proof(const uint8_t key[RK_NET_KEY], enum rk_net_role role,
		       const struct rk_net_transcript *t, uint8_t proofp[RK_NET_PROOF]);
/* Whether proof[0..len) is role's proof over t (compared in constant time). */
bool rk_net_auth_check(const uint8_t key[RK_NET_KEY], enum rk_net_role role,
		       const struct rk_net_transcript *t, const uint8_t *proof,
		       size_t len);

#endif
