/*
 * The placement driver's leaders of ranges (sched_run.h): where its calls
 * on a range go. A range this node holds a replica of has its leader from
 * that replica; for the others the driver keeps the leaders named in the
 * answers to its calls and queries, then the range cache's.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "node_int.h"
#include "sched_run.h"

struct sr_lead {
	uint64_t range, node;
};

/* The first entry of s->lead (in range order) at or above range. */
static size_t lead_find(const struct rk_sr *s, uint64_t range)
{
	size_t lo = 0, hi = s->n_lead;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->lead[mid].range < range)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Kept in range order: every pass looks up each range it holds no
 * replica of, so a lookup must not walk them all. */
static void lead_learn(struct rk_sr *s, uint64_t range, uint64_t node)
{
	size_t i = lead_find(s, range);

	if (i < s->n_lead && s->lead[i].range == range) {
		s->lead[i].node = node;
		return;
	}
	if (node == 0 || rk_grow((void **)&s->lead, &s->cap_lead, s->n_lead, sizeof(*s->lead)) != 0)
		return;
	memmove(&s->lead[i + 1], &s->lead[i], (s->n_lead - i) * sizeof(*s->lead));
	s->lead[i] = (struct sr_lead){range, node};
	s->n_lead++;
}

uint64_t rk_sr_leader_of(struct rk_node *n, uint64_t range)
{
	struct rk_replica *r = rk_table_get(&n->tab, range);
	struct rk_rcache_entry *e;
	size_t i;

	if (r != NULL && !r->removing && rk_replica_leader_node(r) != 0)
		return rk_replica_leader_node(r);
	i = lead_find(&n->sr, range);
	if (i < n->sr.n_lead && n->sr.lead[i].range == range)
		return n->sr.lead[i].node;
	e = rk_rcache_get(&n->rcache, range);
	return e != NULL ? e->leader : 0;
}

/* "leader": N in a JSON answer (a range, or a not-leader refusal); 0. */
static uint64_t json_leader(const char *body, size_t len)
{
	const char *k = "\"leader\":";
	size_t kl = strlen(k);
	uint64_t v = 0;

	for (size_t i = 0; i + kl < len; i++) {
		if (memcmp(body + i, k, kl) != 0)
			continue;
		for (i += kl; i < len && body[i] == ' '; i++)
			;
		for (; i < len && body[i] >= '0' && body[i] <= '9'; i++)
			v = v * 10 + (uint64_t)(body[i] - '0');
		return v;
	}
	return 0;
}

void rk_sr_lead_answer(struct rk_sr *s, uint64_t range, const char *body, size_t len)
{
	uint64_t lead = json_leader(body, len);

	if (lead != 0)
		lead_learn(s, range, lead);
}
