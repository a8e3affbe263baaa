/*
 * Joining a running cluster (join.h): the new node's request and the
 * member's answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "join.h"
#include "log.h"
#include "netjoin.h"
#include "node_int.h"
#include "settings.h"
#include "uv_error.h"

#define MOD "join"

/* The member answers before the transport closes the join connection. */
_Static_assert(RK_JOIN_REGISTER_MS + 1000 < RK_NET_JOIN_OPEN_MS,
	       "a join is answered within its connection's lifetime");

/* ---- the new node ------------------------------------------------------------- */

/* The host of a HOST:PORT or [HOST]:PORT address, into host. */
static void host_of(const char *addr, char *host, size_t cap)
{
	const char *colon = strrchr(addr, ':');
	size_t l = colon != NULL ? (size_t)(colon - addr) : strlen(addr);

	if (l >= 2 && addr[0] == '[' && addr[l - 1] == ']') {
		addr++;
		l -= 2;
	}
	if (l >= cap)
		l = cap - 1;
	memcpy(host, addr, l);
	host[l] = '\0';
}

/* A string of the answer as a C string (malloc'd, NULL if it holds a NUL
 * or memory ran out). */
static char *dup_str(struct rk_net_str s)
{
	char *c = malloc(s.len + 1);

	if (c != NULL && rk_net_str_copy(s, c, s.len + 1) != 0) {
		free(c);
		c = NULL;
	}
	return c;
}

/* The answer's first-start facts into cfg, as --added-node flags. */
static int take_facts(struct rk_node_config *cfg, const struct rk_net_join_ans *a,
		      char *err, size_t errlen)
{
	char *cluster = dup_str(a->cluster), *cut = dup_str(a->cut), *reps = dup_str(a->replicas);
	char *end;
	unsigned long v;
	int rc = cluster != NULL && cut != NULL && reps != NULL ? 0 : RK_EPROTO;

	if (rc == 0)
		rc = rk_node_config_parse_cluster(cfg, cluster, err, errlen);
	if (rc == 0 && strncmp(cut, "--ranges ", 9) == 0) {
		v = strtoul(cut + 9, &end, 10);
		rc = *end == '\0' && v > 0 && v <= UINT32_MAX ? 0 : RK_EPROTO;
		cfg->ranges = (uint32_t)v;
	} else if (rc == 0 && strncmp(cut, "--split-at ", 11) == 0) {
		free(cfg->split_at);
		cfg->split_at = strdup(cut + 11);
		rc = cfg->split_at != NULL ? 0 : RK_ENOMEM;
	} else if (rc == 0) {
		rc = RK_EPROTO;
	}
	if (rc == 0) {
		v = strtoul(reps, &end, 10);
		rc = *end == '\0' && v > 0 && v <= cfg->n_initial ? 0 : RK_EPROTO;
		cfg->replicas = (uint32_t)v;
	}
	for (uint32_t i = 0; rc == 0 && i < cfg->n_initial; i++)
		if (cfg->initial[i].id == cfg->node_id || strcmp(cfg->initial[i].addr, cfg->peer_addr) == 0)
			rc = RK_EPROTO; /* the member checked it: not a member's answer */
	if (rc != 0 && err[0] == '\0')
		snprintf(err, errlen, "--join %s: the member's answer does not hold a cluster's first-start facts",
			 cfg->join);
	free(cluster);
	free(cut);
	free(reps);
	return rc;
}

/* The answer's group nodes ("ID,ID,...") into ids (at most
 * RK_DESC_MAX_REPLICAS), their count; 0 when absent or malformed (the
 * first-start nodes then, and the search through the peers, plc.h). */
static uint32_t take_group(struct rk_net_str s, uint64_t *ids)
{
	char *text = dup_str(s), *p, *end;
	uint32_t k = 0;

	for (p = text; p != NULL && *p != '\0' && k < RK_DESC_MAX_REPLICAS; p = end + (*end == ',')) {
		unsigned long long v = strtoull(p, &end, 10);
		if (end == p || v == 0 || v > UINT32_MAX || (*end != ',' && *end != '\0')) {
			k = 0;
			break;
		}
		ids[k++] = v;
	}
	free(text);
	return k;
}

/* The exchange with cfg->join: the request of cfg's id, addresses, secret
 * and given settings; *ap decoded from ansp (its strings point there), a
 * refusal already turned into RK_EINVAL with err. */
static int exchange(const struct rk_node_config *cfg, struct rk_buf *ansp,
		    struct rk_net_join_ans *ap, char *err, size_t errlen)
{
	struct rk_net_join_opts o;
	struct rk_net_join_req q;
	struct rk_buf given;
	char host[RK_ADDR_MAX], msg[256];
	int rc;

	err[0] = '\0';
	host_of(cfg->peer_addr, host, sizeof(host));
	memset(&o, 0, sizeof(o));
	o.addr = cfg->join;
	o.src_host = host;
	o.node_id = cfg->node_id;
	o.secret = cfg->cluster_secret_len > 0 ? cfg->cluster_secret : NULL;
	o.secret_len = cfg->cluster_secret_len;
	o.connect_ms = RK_JOIN_CONNECT_MS;
	o.answer_ms = RK_JOIN_ANSWER_MS;
	o.features = rk_test_join_no_group() ? 0 : RK_NET_FEATURES;
	rk_buf_init(&given);
	rk_settings_given_text(&cfg->settings, &given);
	memset(&q, 0, sizeof(q));
	q.node_id = cfg->node_id;
	q.peer = (struct rk_net_str){cfg->peer_addr, strlen(cfg->peer_addr)};
	q.client = (struct rk_net_str){cfg->client_addr, strlen(cfg->client_addr)};
	q.http = (struct rk_net_str){cfg->http_addr, strlen(cfg->http_addr)};
	q.settings = (struct rk_net_str){given.p, given.len};
	rc = given.oom ? RK_ENOMEM : rk_net_join_call(&o, &q, ansp, err, errlen);
	if (rc == 0 && (rk_net_join_ans_decode((const uint8_t *)ansp->p, ansp->len, ap) != 0 ||
			/* An earlier release's reading (test hook): a field
			 * it does not know is malformed. */
			(rk_test_join_no_group() && ap->group.len > 0))) {
		snprintf(err, errlen, "--join %s: the member's answer is malformed", cfg->join);
		rc = RK_EPROTO;
	}
	if (rc == 0 && ap->rc != 0) {
		rk_net_str_copy((struct rk_net_str){ap->msg.p, ap->msg.len < sizeof(msg) ? ap->msg.len
											: sizeof(msg) - 1},
				msg, sizeof(msg));
		snprintf(err, errlen, "--join %s: node %llu refused to add this node: %s", cfg->join,
			 (unsigned long long)ap->member, msg[0] != '\0' ? msg : rk_strerror(ap->rc));
		rc = RK_EINVAL;
	}
	rk_buf_free(&given);
	return rc;
}

int rk_join_ask(struct rk_node_config *cfg, uint64_t *clusterp, struct rk_buf *peersp,
		struct rk_join_group *groupp, char *err, size_t errlen)
{
	struct rk_net_join_ans a;
	struct rk_buf ans;
	int rc;

	*clusterp = 0;
	groupp->n = 0;
	rk_buf_init(&ans);
	rk_log_info(MOD, "joining the cluster of %s as node %llu at %s", cfg->join,
		    (unsigned long long)cfg->node_id, cfg->peer_addr);
	rc = exchange(cfg, &ans, &a, err, errlen);
	if (rc == 0)
		rc = take_facts(cfg, &a, err, errlen);
	/* The member refused a conflicting flag already; this takes the
	 * cluster's values for the flags not given. */
	if (rc == 0)
		rc = rk_settings_merge(&cfg->settings, a.settings.p, a.settings.len, "the cluster",
				       err, errlen);
	if (rc == 0) {
		rk_buf_append(peersp, a.nodes.p, a.nodes.len);
		rc = peersp->oom ? RK_ENOMEM : 0;
		cfg->added_node = true;
		*clusterp = a.cluster_id;
		groupp->n = take_group(a.group, groupp->ids);
		rk_log_info(MOD, "node %llu added this node to cluster %016llx: %u initial nodes, "
			    "%.*s, %u replicas per range", (unsigned long long)a.member,
			    (unsigned long long)a.cluster_id, cfg->n_initial,
			    (int)a.cut.len > 60 ? 60 : (int)a.cut.len, a.cut.p, cfg->replicas);
	}
	rk_buf_free(&ans);
	return rc;
}

int rk_join_refresh(const struct rk_node_config *cfg, uint64_t cluster, struct rk_buf *peersp,
		    struct rk_join_group *groupp)
{
	struct rk_net_join_ans a;
	struct rk_buf ans;
	char err[400];
	int rc;

	groupp->n = 0;
	rk_buf_init(&ans);
	rk_log_info(MOD, "asking %s (--join) where the cluster's nodes are now", cfg->join);
	rc = exchange(cfg, &ans, &a, err, sizeof(err));
	if (rc == 0 && a.cluster_id != cluster) {
		snprintf(err, sizeof(err), "--join %s: the member is of cluster %016llx, this node "
			 "of %016llx", cfg->join, (unsigned long long)a.cluster_id,
			 (unsigned long long)cluster);
		rc = RK_EFOREIGN;
	}
	if (rc == 0) {
		rk_buf_append(peersp, a.nodes.p, a.nodes.len);
		rc = peersp->oom ? RK_ENOMEM : 0;
		groupp->n = take_group(a.group, groupp->ids);
		rk_log_info(MOD, "node %llu named the cluster's nodes added since its first start: "
			    "%.*s", (unsigned long long)a.member,
			    (int)a.nodes.len > 300 ? 300 : (int)a.nodes.len, a.nodes.p);
	} else {
		rk_log_warn(MOD, "%s; starting with the nodes this node knew", err);
	}
	rk_buf_free(&ans);
	return rc;
}

void rk_join_learn_group(struct rk_node *n, const struct rk_join_group *g)
{
	char list[RK_DESC_MAX_REPLICAS * 12];
	size_t at = 0;

	if (g->n == 0 || n->plc.n_nodes == 0)
		return;
	for (uint32_t i = 0; i < g->n && at < sizeof(list); i++)
		at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%llu", i > 0 ? "," : "",
				       (unsigned long long)g->ids[i]);
	rk_log_info(MOD, "the join's answer: the placement group's replicas are on nodes %s",
		    list);
	rk_plc_learn_nodes(n, g->ids, g->n);
}

/* ---- the member ------------------------------------------------------------------ */

static void answer(struct rk_node *n, uint64_t to, int rc, const char *msg)
{
	struct rk_net_join_ans a;
	struct rk_buf out, set, nodes, group, rows[3];
	static const char *const names[3] = {"first_start_cluster", "first_start_cut",
					     "first_start_replicas"};
	bool oom = false;

	memset(&a, 0, sizeof(a));
	rk_buf_init(&out);
	rk_buf_init(&set);
	rk_buf_init(&nodes);
	rk_buf_init(&group);
	a.member = n->cfg.node_id;
	for (int k = 0; k < 3; k++) {
		const void *v;
		size_t vl;

		rk_buf_init(&rows[k]);
		/* Copied: the value is the reader's until its next read. */
		if (rc == 0 && rk_store_meta_get(n->reader, names[k], &v, &vl) == 0) {
			rk_buf_append(&rows[k], v, vl);
			rk_buf_putc(&rows[k], '\0');
			oom |= rows[k].oom;
		} else if (rc == 0) {
			rc = RK_ENOTFOUND;
			msg = "this member's data directory does not record its cluster's first start";
		}
	}
	if (rc == 0 && !oom) {
		rk_settings_text(&n->cfg.settings, (uint32_t)strtoul(rows[2].p, NULL, 10), &set);
		rk_roster_added_text(n, &nodes);
		a.cluster_id = rk_store_cluster_id(n->store);
		a.cluster = (struct rk_net_str){rows[0].p, rows[0].len - 1};
		a.cut = (struct rk_net_str){rows[1].p, rows[1].len - 1};
		a.replicas = (struct rk_net_str){rows[2].p, rows[2].len - 1};
		a.settings = (struct rk_net_str){set.p, set.len};
		a.nodes = (struct rk_net_str){nodes.p, nodes.len};
		/* Where the group is as its leader last told this member (its
		 * heartbeats' answers, rk_plc_learn_nodes): the REGISTER just
		 * went through that leader, so it is as fresh as it gets. The
		 * new node routes its first calls there, not to the first-start
		 * nodes, which the group may have left long ago. Only to a
		 * node that says it reads it (its Hello): an earlier release
		 * would refuse the whole answer as malformed. */
		uint32_t k = rk_net_join_features(n->net, to) & RK_NET_FEAT_JOIN_GROUP
				     ? n->plc.n_nodes : 0;
		for (uint32_t i = 0; i < k; i++)
			rk_buf_printf(&group, "%s%llu", i > 0 ? "," : "",
				      (unsigned long long)n->plc.nodes[i]);
		a.group = (struct rk_net_str){group.p, group.len};
	}
	a.rc = rc;
	if (rc != 0)
		a.msg = (struct rk_net_str){msg, strlen(msg)};
	if (!oom && rk_net_join_ans_encode(&a, &out) == 0 && !set.oom && !nodes.oom && !group.oom &&
	    rk_net_join_reply(n->net, to, out.p, out.len) == 0)
		rk_log_info(MOD, "node %llu: join %s%s", (unsigned long long)to,
			    rc == 0 ? "answered: added" : "refused: ", rc == 0 ? "" : msg);
	else
		rk_log_warn(MOD, "node %llu: the join answer could not be sent (it hung up?)",
			    (unsigned long long)to);
	rk_buf_free(&out);
	rk_buf_free(&set);
	rk_buf_free(&nodes);
	rk_buf_free(&group);
	for (int k = 0; k < 3; k++)
		rk_buf_free(&rows[k]);
}

static void start_register(struct rk_node *n)
{
	struct rk_pl_node_rec rec;

	memset(&rec, 0, sizeof(rec));
	rec.id = n->join.id;
	snprintf(rec.peer, sizeof(rec.peer), "%s", n->join.peer);
	snprintf(rec.client, sizeof(rec.client), "%s", n->join.client);
	snprintf(rec.http, sizeof(rec.http), "%s", n->join.http);
	n->join.sent_ms = uv_now(&n->loop);
	rk_hb_send_register(n, &rec);
}

/* Why the member refuses the request at once (NULL: ask the placement
 * group), into msg. */
static const char *refusal(struct rk_node *n, const struct rk_net_join_req *q,
			   const char *peer, char *msg, size_t cap)
{
	struct sockaddr_storage ss;
	struct rk_settings given;
	struct rk_buf rec;
	int st;

	if (n->plc.n_nodes == 0)
		return "this cluster has no placement group (data directories older than it): "
		       "add the node with --added-node and POST /api/v1/nodes";
	if (q->node_id == 0 || q->node_id > UINT32_MAX || rk_parse_hostport(peer, 0, &ss) != 0)
		return "a join request without a node id or peer address";
	if (q->node_id == n->cfg.node_id) {
		snprintf(msg, cap, "node id %llu is this member's", (unsigned long long)q->node_id);
		return msg;
	}
	if (n->join.id != 0 && n->join.id != q->node_id)
		return "another node is joining through this member: try again";
	if (rk_settings_parse_given(q->settings.p, q->settings.len, &given) != 0)
		return "the cluster settings sent do not parse";
	rk_buf_init(&rec);
	rk_settings_text(&n->cfg.settings, 0, &rec);
	st = rec.oom ? RK_ENOMEM
		     : rk_settings_merge(&given, rec.p, rec.len, "the cluster", msg, cap);
	rk_buf_free(&rec);
	if (st != 0)
		return st == RK_ENOMEM ? "out of memory" : msg;
	st = rk_roster_check(n, q->node_id, peer, msg, cap);
	return st == 0 || st == 200 ? NULL : msg;
}

int rk_join_on_frame(struct rk_node *n, uint64_t from, const uint8_t *p, size_t len)
{
	struct rk_net_join_req q;
	struct rk_join *j = &n->join;
	char peer[RK_ADDR_MAX], client[RK_ADDR_MAX], http[RK_ADDR_MAX], msg[320];
	const char *why;

	if (rk_net_join_req_decode(p, len, &q) != 0 || q.node_id != from ||
	    rk_net_str_copy(q.peer, peer, sizeof(peer)) != 0 ||
	    rk_net_str_copy(q.client, client, sizeof(client)) != 0 ||
	    rk_net_str_copy(q.http, http, sizeof(http)) != 0)
		return RK_EPROTO;
	rk_log_info(MOD, "node %llu at %s asks to join", (unsigned long long)from, peer);
	msg[0] = '\0';
	if ((why = refusal(n, &q, peer, msg, sizeof(msg))) != NULL) {
		answer(n, from, RK_EINVAL, why);
		return 0;
	}
	if (j->id == from)
		return 0; /* asked again while its REGISTER is under way: one answer */
	j->id = from;
	memcpy(j->peer, peer, sizeof(peer));
	memcpy(j->client, client, sizeof(client));
	memcpy(j->http, http, sizeof(http));
	j->started_ms = uv_now(&n->loop);
	start_register(n);
	return 0;
}

void rk_join_registered(struct rk_node *n, uint64_t id, int rc)
{
	struct rk_join *j = &n->join;
	char msg[200];

	if (j->id == 0 || j->id != id)
		return;
	j->id = 0;
	if (rc == 0) {
		/* A peer of this node now (the others learn it from the
		 * node table), before the new node first calls. */
		rk_roster_learn(n, id, j->peer);
		answer(n, id, 0, NULL);
		return;
	}
	if (rc == RK_EEXIST)
		snprintf(msg, sizeof(msg), "node id %llu is another node's in the cluster's node table "
			 "(at another peer address)", (unsigned long long)id);
	else if (rc == RK_EADDRINUSE)
		snprintf(msg, sizeof(msg), "one of its addresses (%s, or its client or HTTP address) "
			 "is another node's in the cluster's node table", j->peer);
	else
		snprintf(msg, sizeof(msg), "the placement group refused to register it: %s",
			 rk_strerror(rc));
	answer(n, id, RK_EINVAL, msg);
}

void rk_join_tick(struct rk_node *n)
{
	struct rk_join *j = &n->join;
	uint64_t now = uv_now(&n->loop);

	if (j->id == 0)
		return;
	if (now - j->started_ms >= RK_JOIN_REGISTER_MS) {
		uint64_t id = j->id;
		j->id = 0;
		answer(n, id, RK_ETIMEDOUT, "the placement group did not register the node in time "
		       "(is a majority of its nodes up?): try again");
		return;
	}
	if (now - j->sent_ms >= RK_HB_INTERVAL_MS)
		start_register(n);
}
