/*
 * Planted bugs, for proving that the scheduler's tests catch what they
 * claim to.
 *
 * librk_pl is built with RK_PL_BUG=0. The test-only variants
 * librk_pl_bugN compile exactly one of these in; tests/placement runs
 * test_sched against each and the named test must fail
 * (tests/placement/CMakeLists.txt).
 */
#ifndef RK_PL_BUGS_H
#define RK_PL_BUGS_H

#ifndef RK_PL_BUG
#define RK_PL_BUG 0
#endif

/* A node that holds a replica of a range may take another. */
#define RK_PL_BUG_TWO_ON_ONE_NODE 1
/* A replica on a doomed node is removed before its replacement is added. */
#define RK_PL_BUG_REMOVE_BEFORE_ADD 2
/* The limits on concurrent moves are not applied. */
#define RK_PL_BUG_NO_MOVE_LIMIT 3
/* An excess removal may take the newest voter: a move undoes itself. */
#define RK_PL_BUG_REMOVE_NEWEST 4
/* A merge removes a sticky boundary (one made by hand or at first start). */
#define RK_PL_BUG_MERGE_STICKY 5
/* No swap (rule 8): a node stuck outside the bytes band stays there. */
#define RK_PL_BUG_NO_SWAP 6
/* An alignment for a merge removes the voter rule 4 would (the fullest),
 * not one off the left's nodes: the right's set wanders, never equal. */
#define RK_PL_BUG_ALIGN_ANY_VOTER 7

#define RK_PL_BUGGY(name) (RK_PL_BUG == RK_PL_BUG_##name)

#endif
