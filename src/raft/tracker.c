/*
 * Replication progress (leader only) and quorum arithmetic.
 *
 * Progress slots mirror the configuration's member slots: pr[i] belongs to
 * conf.ids[i]. A configuration change re-slots them by id.
 *
 * A follower's progress is in one of three states:
 *  - probe: the leader does not know where the follower's log ends; it sends
 *    one APP at a time and waits (probe_sent) for the answer or a heartbeat
 *    response before the next;
 *  - replicate: the follower accepts; the leader streams APPs optimistically
 *    (next moves ahead of match), bounded by the inflight ring (count and
 *    bytes): flow control;
 *  - snapshot: the follower needs a snapshot; nothing else is sent until it
 *    is reported done or failed.
 */
#include <string.h>

#include "raft_int.h"

int raft_conf_slot(const struct rk_raft_conf_state *cs, uint64_t id)
{
	int i;

	for (i = 0; i < cs->n; i++)
		if (cs->ids[i] == id)
			return i;
	return -1;
}

bool raft_is_voter(const struct rk_raft_conf_state *cs, uint64_t id)
{
	int i = raft_conf_slot(cs, id);

	return i >= 0 && (cs->flags[i] & (RK_RAFT_VOTER | RK_RAFT_VOTER_OUT));
}

bool raft_is_member(const struct rk_raft_conf_state *cs, uint64_t id)
{
	return raft_conf_slot(cs, id) >= 0;
}

bool raft_is_promotable(const struct rk_raft *r)
{
	return raft_is_voter(&r->conf, r->id);
}

struct raft_progress *raft_progress_get(struct rk_raft *r, uint64_t id)
{
	int i;

	if (r->tracker == NULL)
		return NULL;
	i = raft_conf_slot(&r->conf, id);
	return i < 0 ? NULL : &r->tracker->pr[i];
}

static void progress_init(struct raft_progress *pr, uint64_t id,
			  uint64_t next)
{
	memset(pr, 0, sizeof(*pr));
	pr->id = id;
	pr->next = next;
	pr->state = RAFT_PR_PROBE;
	/* Fresh progress counts as active: check-quorum must not depose a
	 * leader one tick after it was elected or reconfigured. */
	pr->recent_active = true;
}

int raft_tracker_reset(struct rk_raft *r)
{
	uint64_t next = raft_log_last_index(r) + 1;
	int i;

	raft_tracker_free(r);
	r->tracker = raft_alloc(r, sizeof(*r->tracker));
	if (r->tracker == NULL)
		return RK_ENOMEM;
	memset(r->tracker, 0, sizeof(*r->tracker));
	for (i = 0; i < r->conf.n; i++)
		progress_init(&r->tracker->pr[i], r->conf.ids[i], next);
	return 0;
}

void raft_tracker_free(struct rk_raft *r)
{
	int i;

	if (r->tracker == NULL)
		return;
	for (i = 0; i < RK_RAFT_MAX_MEMBERS; i++)
		raft_inflights_reset(r, &r->tracker->pr[i]);
	raft_free(r, r->tracker, sizeof(*r->tracker));
	r->tracker = NULL;
}

/*
 * Called after r->conf changed. Existing members keep their progress; new
 * ones start probing from the leader's last index; removed ones are dropped.
 */
int raft_tracker_reconfigure(struct rk_raft *r)
{
	struct raft_progress old[RK_RAFT_MAX_MEMBERS];
	struct rk_raft_tracker *t = r->tracker;
	uint64_t next = raft_log_last_index(r) + 1;
	int i, j;

	if (t == NULL)
		return 0;
	memcpy(old, t->pr, sizeof(old));
	memset(t->pr, 0, sizeof(t->pr));
	for (i = 0; i < r->conf.n; i++) {
		for (j = 0; j < RK_RAFT_MAX_MEMBERS; j++) {
			if (old[j].id == r->conf.ids[i] && old[j].id != 0) {
				t->pr[i] = old[j];
				old[j].id = 0;
				old[j].in_buf = NULL;
				break;
			}
		}
		if (j == RK_RAFT_MAX_MEMBERS)
			progress_init(&t->pr[i], r->conf.ids[i], next);
	}
	for (j = 0; j < RK_RAFT_MAX_MEMBERS; j++)
		raft_inflights_reset(r, &old[j]);
	return 0;
}

/* ---- inflights ------------------------------------------------------------------ */

static bool inflights_full(struct rk_raft *r, const struct raft_progress *pr)
{
	const struct rk_raft_options *o = r->opts;

	if (pr->in_count >= o->max_inflight_msgs)
		return true;
	return o->max_inflight_bytes != 0 && pr->in_bytes >= o->max_inflight_bytes;
}

int raft_inflights_add(struct rk_raft *r, struct raft_progress *pr,
		       uint64_t index, uint64_t bytes)
{
	uint32_t pos;

	if (pr->in_count == pr->in_cap) {
		uint32_t ncap = pr->in_cap == 0 ? 4 : pr->in_cap * 2;
		struct raft_inflight *nb;
		uint32_t k;

		if (ncap > r->opts->max_inflight_msgs)
			ncap = r->opts->max_inflight_msgs;
		if (ncap <= pr->in_cap)
			return RK_EBUSY;
		nb = raft_alloc(r, ncap * sizeof(*nb));
		if (nb == NULL)
			return RK_ENOMEM;
		for (k = 0; k < pr->in_count; k++)
			nb[k] = pr->in_buf[(pr->in_start + k) % pr->in_cap];
		raft_free(r, pr->in_buf, pr->in_cap * sizeof(*nb));
		pr->in_buf = nb;
		pr->in_cap = ncap;
		pr->in_start = 0;
	}
	pos = (pr->in_start + pr->in_count) % pr->in_cap;
	pr->in_buf[pos].index = index;
	pr->in_buf[pos].bytes = bytes;
	pr->in_count++;
	pr->in_bytes += bytes;
	return 0;
}

void raft_inflights_free_le(struct rk_raft *r, struct raft_progress *pr,
			    uint64_t index)
{
	while (pr->in_count > 0 && pr->in_buf[pr->in_start].index <= index) {
		pr->in_bytes -= pr->in_buf[pr->in_start].bytes;
		pr->in_start = (pr->in_start + 1) % pr->in_cap;
		pr->in_count--;
	}
	if (pr->in_count == 0)
		raft_inflights_reset(r, pr); /* idle: give the ring back */
}

void raft_inflights_reset(struct rk_raft *r, struct raft_progress *pr)
{
	raft_free(r, pr->in_buf, pr->in_cap * sizeof(*pr->in_buf));
	pr->in_buf = NULL;
	pr->in_cap = pr->in_start = pr->in_count = 0;
	pr->in_bytes = 0;
}

/* ---- progress state machine ------------------------------------------------------- */

bool raft_progress_is_paused(struct rk_raft *r, struct raft_progress *pr)
{
	switch (pr->state) {
	case RAFT_PR_PROBE:
		return pr->probe_sent;
	case RAFT_PR_REPLICATE:
		return inflights_full(r, pr);
	default:
		return true;
	}
}

bool raft_progress_maybe_update(struct raft_progress *pr, uint64_t n)
{
	bool updated = false;

	if (pr->match < n) {
		pr->match = n;
		updated = true;
		pr->probe_sent = false;
	}
	if (pr->next < n + 1)
		pr->next = n + 1;
	return updated;
}

/*
 * The follower rejected an APP whose preceding index was `rejected`;
 * match_hint is the highest index that may match. Returns false when the
 * rejection is stale (an answer to an older APP) and must be ignored.
 */
bool raft_progress_maybe_decr_to(struct raft_progress *pr, uint64_t rejected,
				 uint64_t match_hint)
{
	if (pr->state == RAFT_PR_REPLICATE) {
		if (rejected <= pr->match)
			return false;
		pr->next = pr->match + 1;
		return true;
	}
	if (pr->next - 1 != rejected)
		return false;
	pr->next = raft_max(raft_min(rejected, match_hint + 1), pr->match + 1);
	if (pr->next < 1)
		pr->next = 1;
	pr->probe_sent = false;
	return true;
}

static void progress_reset_state(struct rk_raft *r, struct raft_progress *pr,
				 uint8_t state)
{
	pr->probe_sent = false;
	pr->pending_snapshot = 0;
	pr->state = state;
	raft_inflights_reset(r, pr);
}

void raft_progress_become_probe(struct rk_raft *r, struct raft_progress *pr)
{
	if (pr->state == RAFT_PR_SNAPSHOT) {
		uint64_t pending = pr->pending_snapshot;
		progress_reset_state(r, pr, RAFT_PR_PROBE);
		pr->next = raft_max(pr->match + 1, pending + 1);
	} else {
		progress_reset_state(r, pr, RAFT_PR_PROBE);
		pr->next = pr->match + 1;
	}
}

void raft_progress_become_replicate(struct rk_raft *r,
				    struct raft_progress *pr)
{
	progress_reset_state(r, pr, RAFT_PR_REPLICATE);
	pr->next = pr->match + 1;
}

void raft_progress_become_snapshot(struct rk_raft *r,
				   struct raft_progress *pr, uint64_t index)
{
	progress_reset_state(r, pr, RAFT_PR_SNAPSHOT);
	pr->pending_snapshot = index;
}

/* ---- quorums -------------------------------------------------------------------- */

static void sort_desc(uint64_t *v, int n)
{
	int i, j;

	for (i = 1; i < n; i++) {
		uint64_t x = v[i];
		for (j = i; j > 0 && v[j - 1] < x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* The largest value a majority of the voters carrying `flag` has reached;
 * UINT64_MAX for an empty half (it does not constrain). */
static uint64_t half_quorum(struct rk_raft *r, uint8_t flag,
			    uint64_t (*value_of)(struct rk_raft *,
						 const struct raft_progress *))
{
	uint64_t v[RK_RAFT_MAX_MEMBERS];
	int i, n = 0;

	for (i = 0; i < r->conf.n; i++)
		if (r->conf.flags[i] & flag)
			v[n++] = value_of(r, &r->tracker->pr[i]);
	if (n == 0)
		return UINT64_MAX;
	sort_desc(v, n);
	return v[n / 2];
}

uint64_t raft_quorum_index(struct rk_raft *r,
			   uint64_t (*value_of)(struct rk_raft *,
						const struct raft_progress *))
{
	uint64_t in = half_quorum(r, RK_RAFT_VOTER, value_of);
	uint64_t out = half_quorum(r, RK_RAFT_VOTER_OUT, value_of);
	uint64_t q = raft_min(in, out);

	return q == UINT64_MAX ? 0 : q;
}

static enum raft_vote_result half_tally(const struct rk_raft *r, uint8_t flag)
{
	int i, n = 0, granted = 0, rejected = 0;

	for (i = 0; i < r->conf.n; i++) {
		if (!(r->conf.flags[i] & flag))
			continue;
		n++;
		if (r->votes[i] == 1)
			granted++;
		else if (r->votes[i] == 2)
			rejected++;
	}
	if (n == 0 || granted > n / 2)
		return RAFT_VOTE_WON;
	if (rejected >= n - n / 2)
		return RAFT_VOTE_LOST;
	return RAFT_VOTE_PENDING;
}

enum raft_vote_result raft_vote_tally(const struct rk_raft *r)
{
	enum raft_vote_result in = half_tally(r, RK_RAFT_VOTER);
	enum raft_vote_result out = half_tally(r, RK_RAFT_VOTER_OUT);

	if (in == RAFT_VOTE_LOST || out == RAFT_VOTE_LOST)
		return RAFT_VOTE_LOST;
	if (in == RAFT_VOTE_WON && out == RAFT_VOTE_WON)
		return RAFT_VOTE_WON;
	return RAFT_VOTE_PENDING;
}

static uint64_t active_value(struct rk_raft *r, const struct raft_progress *pr)
{
	return (pr->id == r->id || pr->recent_active) ? 1 : 0;
}

bool raft_quorum_active(struct rk_raft *r)
{
	return raft_quorum_index(r, active_value) == 1;
}
