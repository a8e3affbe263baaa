/*
 * Planted bugs, for proving that the simulator catches what it claims to.
 *
 * librk_raft is built with RK_RAFT_BUG=0. The test-only variants
 * librk_raft_bugN compile exactly one of these in; tests/sim runs them and
 * must report a violation (docs/testing.md lists which seeds catch each).
 */
#ifndef RK_RAFT_BUGS_H
#define RK_RAFT_BUGS_H

#ifndef RK_RAFT_BUG
#define RK_RAFT_BUG 0
#endif

/* A voter grants its vote without checking that the candidate's log is at
 * least as up to date as its own. */
#define RK_BUG_VOTE_NO_LOG_CHECK 1
/* The leader commits an entry of a previous term by counting replicas. */
#define RK_BUG_COMMIT_PREV_TERM 2
/* A follower acknowledges appended entries before they are durable (its
 * acknowledgement leaves in msgs, not msgs_after_persist). */
#define RK_BUG_ACK_BEFORE_PERSIST 3
/* Lease reads without check-quorum's vote refusal: voters elect a new
 * leader while the old one still serves reads under its lease. */
#define RK_BUG_LEASE_NO_CHECK_QUORUM 4
/* A conf change takes effect on the leader as soon as it is proposed, and
 * the next one may be proposed before it is applied. */
#define RK_BUG_CONF_CHANGE_EARLY 5
/* The right half of a split does not take over its left neighbour's vote
 * refusal (rk_raft_inherit_lease). Not observable while both replicas share
 * a clock (always): rk_raft_init's own start refusal already lasts at least
 * as long (docs/testing.md, "planted bugs"); no test catches it, and
 * node_lease_split, which passes with it, shows that the read barrier, not
 * a refusal, keeps the old left leader's lease reads right. */
#define RK_BUG_SPLIT_NO_LEASE_INHERIT 6

#define RK_BUG(name) (RK_RAFT_BUG == RK_BUG_##name)

#endif /* RK_RAFT_BUGS_H */
