/*
 * rk_client: the client side of a node. The RESP server (server.c) turns
 * client commands into range operations (commands.c), and the router
 * (router.c) sends each operation to its range's leader and retries until
 * it is answered or its deadline passes.
 *
 * The router knows the node only through struct rk_client_env: it asks it
 * which range owns a key, who leads it and its generation, hands it
 * requests for a node (itself included), and the descriptors that answers
 * carry when a request went to the wrong place (router.c, "Routing that
 * follows descriptors"). Answers come back through rk_client_on_resp, whether
 * the node served the request itself or another node did over the
 * transport. The router never holds a pointer the node could invalidate,
 * and the node never holds one into the router: requests and answers are
 * matched by id, so an answer for an operation that has given up is
 * dropped.
 *
 * Exactly once: the router is one client session (its id is unique to
 * this node process). Every write gets the next sequence number and keeps
 * it across retries; commands carry the lowest sequence number still
 * waiting for the same range, which lets that range forget older results
 * (a slow operation on one range holds back no other). A retry of a write that
 * may have applied is therefore always safe, and a write is answered
 * -TIMEOUT (outcome unknown) only when its deadline passes after it may
 * have reached a leader; -TRYAGAIN when it certainly did not.
 *
 * Threads: everything runs on the node's event loop.
 */
#ifndef RK_CLIENT_H
#define RK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "codec.h"

struct rk_client_env {
	void *arg;
	uint64_t self; /* this node's id */
	/* The range owning key, with its span's end (empty = unbounded);
	 * 0 if none is known. */
	uint64_t (*range_of)(void *arg, const uint8_t *key, size_t klen,
			     const uint8_t **endp, size_t *elenp);
	/* The node believed to lead range, 0 if unknown. */
	uint64_t (*leader_of)(void *arg, uint64_t range);
	/* Sends a request to node `to` (possibly self); the answer comes back
	 * through rk_client_on_resp. May answer before returning. */
	void (*send)(void *arg, uint64_t to, const struct rk_net_req *r);
	/* Routing that follows descriptors; any of them may be NULL (no
	 * generation sent, nothing learned, no other node asked). */
	/* range's generation as the node knows it (key: one of its keys, to
	 * find it by), 0 if unknown. */
	uint64_t (*generation_of)(void *arg, uint64_t range, const uint8_t *key,
				  size_t klen);
	/* A descriptor (desc.h, stored form) from an answer: the node keeps
	 * it unless what it knows is newer. */
	void (*learn)(void *arg, const uint8_t *desc, size_t len);
	/* Node `node` answered that it does not hold range: not to be tried
	 * for it again until the node learns a new descriptor of it. */
	void (*absent)(void *arg, uint64_t range, uint64_t node);
	/* The node to ask after `node` when no node is known for a key (in a
	 * fixed cyclic order, never this node); 0 if there is none. */
	uint64_t (*peer_after)(void *arg, uint64_t node);
	/* Asks the placement index for key's descriptor (docs/client.md,
	 * "Routing that follows descriptors"), at most once per operation.
	 * need: no node is known for the key (range 0, or its nodes said
	 * NO_RANGE, or a redirect carried no descriptor); otherwise the node
	 * decides (its entry for range is only a guess). Returns
	 * RK_CLIENT_LOOKUP_NONE (nothing asked: go on without), _WAIT (asked:
	 * the answer goes into the node's cache later and the node calls
	 * rk_client_router_wake; the operation waits for that, at most
	 * 200 ms) or _DONE (the cache has the answer now). NULL: none. */
	int (*lookup)(void *arg, uint64_t range, bool need, const uint8_t *key,
		      size_t klen);
	/* A number that grows whenever range_of may answer another range
	 * for some key than before (a split, a merge, a range learned); the
	 * router then looks again where its waiting writes' keys are
	 * (router.c, follow_spans). NULL: never looked again before a
	 * write's own next attempt. */
	uint64_t (*spans)(void *arg);
};

enum { RK_CLIENT_LOOKUP_NONE = 0, RK_CLIENT_LOOKUP_WAIT = 1, RK_CLIENT_LOOKUP_DONE = 2 };

struct rk_client_router;

/* The reply of one operation: status (enum rk_net_resp_status, or the
 * router's own RK_CLIENT_TRYAGAIN / RK_CLIENT_TIMEOUT / RK_CLIENT_RESPLIT)
 * and the RESP reply bytes when status is OK or REFUSED. RESPLIT, for a
 * write of several keys only (an RK_KV_BATCH, a PUT of several pairs): its
 * keys are in several ranges now, and it certainly did not apply and never
 * will (router.c): the caller may send its commands again, in new
 * operations. */
enum { RK_CLIENT_TRYAGAIN = 100, RK_CLIENT_TIMEOUT = 101, RK_CLIENT_RESPLIT = 102 };
typedef void (*rk_client_done_fn)(void *arg, int status, const uint8_t *reply,
				  size_t len);

int rk_client_router_new(uv_loop_t *loop, const struct rk_client_env *env,
			 uint32_t timeout_ms, struct rk_client_router **rp);
void rk_client_router_close(struct rk_client_router *r);

/* Routes one operation: cmd is a command as src/kv encodes it, without
 * its session fields (the router fills them in for writes). done is called
 * exactly once, never before this returns. RK_ESTOPPED (done never
 * called) once rk_client_router_close has begun. */
int rk_client_submit(struct rk_client_router *r, const uint8_t *cmd,
		     size_t len, rk_client_done_fn done, void *arg);

/* An answer of the placement index came in (env.lookup's _WAIT): the
 * operations parked for one are sent again on the next timer turn. */
void rk_client_router_wake(struct rk_client_router *r);

/* The loop's time (ms) and the deadline an operation gets from submit. */
uint64_t rk_client_router_now(struct rk_client_router *r);
uint32_t rk_client_router_timeout(const struct rk_client_router *r);

/* The range owning key and its span's end, as the node knows it now. */
uint64_t rk_client_range_of(struct rk_client_router *r, const uint8_t *key,
			    size_t klen, const uint8_t **endp, size_t *elenp);

/* An answer for one of this router's requests. */
void rk_client_on_resp(struct rk_client_router *r, const struct rk_net_resp *resp);

struct rk_client_stats {
	uint64_t ops, retries, forwarded, tryagain, timeouts, inflight;
	/* Answers NO_RANGE or MISMATCH (each sends the operation on at once,
	 * with the descriptors they carried learned); of those, the ones that
	 * parked it instead (REDIRECT_BURST reached); attempts sent to a node
	 * asked in turn (no node known for the key). */
	uint64_t redirects, redirect_parks, asks;
	/* Writes of several keys handed back to their caller to send in
	 * parts (RK_CLIENT_RESPLIT). */
	uint64_t resplits;
	/* Writes held back from a range that may hold a mark above their
	 * sequence number until their open attempts were answered
	 * (router.c, struct wlist). */
	uint64_t awaits;
	/* Of them, those given up (-TIMEOUT) once every open attempt had
	 * been answered "unknown" (router.c, await_settled). */
	uint64_t await_timeouts;
	/* Attempts of a held batch (its keys in two ranges, every open
	 * attempt answered "unknown") sent again under its number to learn
	 * whether one applied (router.c, resend_held). */
	uint64_t held_resends;
	/* Placement index lookups asked for a key (env.lookup). */
	uint64_t index_lookups;
	/* Writes a node answered as duplicates of an answered request (a
	 * router's fault: the client gets -ERR). */
	uint64_t duplicates;
};
void rk_client_router_stats(const struct rk_client_router *r,
			    struct rk_client_stats *sp);

/* ---- the RESP server ---- */

struct rk_client_server;

/* Facts INFO reports. */
struct rk_client_info {
	uint64_t node_id;
	uint64_t ranges, leaders;
};
typedef void (*rk_client_info_fn)(void *arg, struct rk_client_info *ip);

int rk_client_server_start(uv_loop_t *loop, const char *addr,
			   struct rk_client_router *router,
			   rk_client_info_fn info, void *info_arg,
			   struct rk_client_server **sp, char *err, size_t errlen);
/* Requires AUTH with this password on every connection accepted from now
 * on (call it before the loop runs, right after the start); len 0: no
 * password, AUTH not needed. The bytes are copied. */
int rk_client_server_set_password(struct rk_client_server *s, const uint8_t *pw,
				  size_t len);
/* Closes the listener and every connection; done once all are closed. */
void rk_client_server_stop(struct rk_client_server *s, void (*done)(void *arg),
			   void *arg);

/* Admission: the bytes of the commands read from clients and not yet
 * answered, over all connections, stay under max_bytes (one command is
 * always admitted, however large). Above it no connection is read, and
 * reading resumes once the answered commands take it under half: clients
 * wait (their latency shows it) rather than the node's memory growing
 * when the cluster or its store falls behind. 0: no bound. */
#define RK_CLIENT_INFLIGHT_DEFAULT (64u << 20)
void rk_client_server_set_inflight(struct rk_client_server *s,
				   uint64_t max_bytes);

struct rk_client_server_stats {
	uint64_t connections, accepted, commands, protocol_errors;
	uint64_t inflight_bytes; /* admitted and not yet answered */
	uint64_t throttled;      /* times admission stopped reading */
};
void rk_client_server_stats(const struct rk_client_server *s,
			    struct rk_client_server_stats *sp);

#endif
