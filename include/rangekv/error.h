/*
 * rangekv error codes: one table, one convention.
 *
 * Every function that can fail returns int: 0 (RK_OK) or a negative RK_E*
 * code from this table. Foreign codes (WiredTiger, libuv, errno) are
 * translated into these where they enter rangekv, once; nothing above the
 * boundary that produced it ever sees a foreign code.
 *
 * This header is dependency free on purpose: the raft core includes it and
 * links libc only.
 */
#ifndef RANGEKV_ERROR_H
#define RANGEKV_ERROR_H

#define RK_ERRORS(X)                                                              \
	X(RK_OK,              0,   "ok")                                          \
	X(RK_ENOMEM,         -1,   "out of memory")                               \
	X(RK_EINVAL,         -2,   "invalid argument")                            \
	X(RK_ENOTLEADER,     -3,   "not the leader of this range")                \
	X(RK_EDROPPED,       -4,   "proposal dropped")                            \
	X(RK_EBUSY,          -5,   "memory or flow-control limit reached, retry later") \
	X(RK_ECOMPACTED,     -6,   "requested log index is compacted")            \
	X(RK_EUNAVAILABLE,   -7,   "requested log index is not available yet")    \
	X(RK_ESNAPTEMP,      -8,   "snapshot temporarily unavailable")            \
	X(RK_ECONFCHANGE,    -9,   "invalid membership change")                   \
	X(RK_EPROTO,         -10,  "malformed message")                           \
	X(RK_ECORRUPT,       -11,  "stored data failed its checksum or is corrupt") \
	X(RK_EIO,            -12,  "input/output error")                          \
	X(RK_ENOTFOUND,      -13,  "not found")                                   \
	X(RK_EEXIST,         -14,  "already exists")                              \
	X(RK_EVERSION,       -15,  "data written by a newer rangekv format")      \
	X(RK_EFOREIGN,       -16,  "data directory belongs to another node or cluster") \
	X(RK_ERANGE,         -17,  "key outside this range")                      \
	X(RK_ETOOBIG,        -18,  "value or request too large")                  \
	X(RK_ESTOPPED,       -19,  "stopped")                                     \
	X(RK_EAGAIN,         -20,  "try again")                                   \
	X(RK_ETIMEDOUT,      -21,  "timed out")                                   \
	X(RK_ESTATE,         -22,  "operation not valid in the current state") \
	X(RK_EADDRINUSE,     -23,  "address already in use")                      \
	X(RK_EADDR,          -24,  "bad or unavailable network address")          \
	X(RK_ECONN,          -25,  "connection failed or closed")                 \
	X(RK_ENOSPC,         -26,  "no space left on device")

enum rk_err {
#define RK_ERR_ENUM_(name, code, text) name = (code),
	RK_ERRORS(RK_ERR_ENUM_)
#undef RK_ERR_ENUM_
};

/* A static, human-readable text for err; never NULL (unknown codes get
 * "unknown error"). */
const char *rk_strerror(int err);

/* The symbolic name ("RK_ENOTLEADER"); never NULL. */
const char *rk_errname(int err);

#endif /* RANGEKV_ERROR_H */
