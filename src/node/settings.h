/*
 * The cluster settings (docs/node.md, "Cluster settings"): flags of the
 * first start that the whole cluster shares, recorded in the data
 * directory (meta row "cluster_settings", every node: a restart checks its
 * flags against it) and in the placement group (its row "s",
 * placement/group/nodes.h: what a joining node inherits), as text,
 * "name=value\n" per setting, values in their base unit (ms, bytes).
 *
 * A setting is one line of RK_SETTINGS: its record name, its flag, how
 * its value is written (a duration with a unit, a size with a unit, a
 * count), its bounds and its default. --replicas is recorded with them but
 * parsed and checked with the layout flags (config.c, boot.c).
 *
 * A data directory made before the settings were recorded has no row: its
 * settings are the defaults (and its recorded --replicas), and a flag
 * given with another value is refused as for a recorded one.
 *
 * Threads: the loop (the parse: the flags' thread).
 */
#ifndef RK_NODE_SETTINGS_H
#define RK_NODE_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rk_setting_kind {
	RK_SETK_DURATION, /* ms; written 1500ms, 30s, 5m, 2h */
	RK_SETK_SIZE,     /* bytes; written as rk_parse_size reads */
	RK_SETK_SIZE_OFF, /* bytes, 0 for never, else at least its min */
	RK_SETK_COUNT,
	/* on (1) or off (0); the value of the first start only: the cluster
	 * changes it at runtime (rebalance.h), so a later start or a join
	 * that gives another value is not refused (the flag is ignored). */
	RK_SETK_SWITCH,
};

/*  id             record name      flag               kind             min   max                    default */
#define RK_SETTINGS(X)                                                                                           \
	X(DEAD_AFTER,    "dead_after",    "--dead-after",    RK_SETK_DURATION, 1000, 30ull * 86400000,      300000)  \
	X(SNAPSHOT_RATE, "snapshot_rate", "--snapshot-rate", RK_SETK_SIZE,     1,    UINT64_MAX,             8ull << 20) \
	X(SPLIT_SIZE,    "split_size",    "--split-size",    RK_SETK_SIZE_OFF, 16u << 10, UINT64_MAX,       64ull << 20) \
	X(SPLIT_QPS,     "split_qps",     "--split-qps",     RK_SETK_COUNT,    0,    1000000000ull,         0)   \
	X(REBALANCE,     "rebalance",     "--rebalance",     RK_SETK_SWITCH,   0,    1,                     1)   \
	X(MERGE_MAX,     "merge_max",     "--merge-max",     RK_SETK_COUNT,    0,    1000000000ull,         4)   \
	X(MERGE_COLD,    "merge_cold",    "--merge-cold",    RK_SETK_DURATION, 1000, 86400000ull,           10000)

enum rk_setting_id {
#define X(id, name, flag, kind, min, max, def) RK_SET_##id,
	RK_SETTINGS(X)
#undef X
	RK_SET_N
};

/* The values of the settings, and which were given as flags. */
struct rk_settings {
	uint64_t v[RK_SET_N];
	uint32_t given; /* bit i: setting i was given */
};

void rk_settings_defaults(struct rk_settings *s);
/* A flag of a setting: 0 (taken), RK_EINVAL (bad value: a one-line reason
 * in err), RK_ENOTFOUND (not a setting's flag). */
int rk_settings_flag(struct rk_settings *s, const char *flag, const char *val, char *err,
		     size_t errlen);

/* Takes the values of a record (text NULL: none, the defaults) into s,
 * refusing a given flag with another value (RK_EINVAL, one line naming the
 * recorded value and `where`, the data directory, in err). RK_ECORRUPT if
 * the record does not parse. */
int rk_settings_merge(struct rk_settings *s, const char *text, size_t len, const char *where,
		      char *err, size_t errlen);

struct rk_node;
struct rk_store_batch;
struct rk_buf;

/* The given settings of s alone, as record lines (what a joining node
 * sends, join.h), and back: the defaults with the lines of text taken as
 * given (RK_ECORRUPT for a line that does not parse or a value out of its
 * bounds; lines of unknown settings are skipped). */
void rk_settings_given_text(const struct rk_settings *s, struct rk_buf *out);
int rk_settings_parse_given(const char *text, size_t len, struct rk_settings *sp);

/* The record of the settings of cfg's flags (defaults where not given),
 * with `replicas` replicas per range. */
void rk_settings_text(const struct rk_settings *s, uint32_t replicas, struct rk_buf *out);
/* First start: the record into the data directory's meta row (b). */
void rk_settings_record(struct rk_node *n, uint32_t replicas, struct rk_store_batch *b);
/* The settings the data directory records (the defaults without a row),
 * into n->cfg.settings; the flags given must match them (rk_settings_merge:
 * at a first start they are the record). */
int rk_settings_load(struct rk_node *n, char *err, size_t errlen);

#endif
