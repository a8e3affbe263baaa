/*
 * Prometheus text exposition (format 0.0.4): families, samples, and a
 * fixed-bucket latency histogram. Every metric name is prefixed rangekv_ by
 * the caller. Not thread safe: observe on the thread that renders.
 */
#ifndef RK_COMMON_PROM_H
#define RK_COMMON_PROM_H

#include <stdint.h>

#include "buf.h"

#define RK_HIST_BUCKETS 16

struct rk_hist {
	uint64_t le[RK_HIST_BUCKETS]; /* cumulative at render, per bucket here */
	uint64_t count;
	double sum;
};

extern const double rk_hist_bounds[RK_HIST_BUCKETS]; /* seconds; last +Inf */

void rk_hist_observe(struct rk_hist *h, double seconds);
/* The q-quantile (0 < q < 1) estimated from the buckets (upper bound of the
 * bucket it falls in); 0 when empty. */
double rk_hist_quantile(const struct rk_hist *h, double q);

/* # HELP and # TYPE lines. type: "counter", "gauge", "histogram". */
void rk_prom_family(struct rk_buf *b, const char *name, const char *type,
		    const char *help);
/* name{labels} value. labels is the inside of the braces or NULL. */
void rk_prom_u64(struct rk_buf *b, const char *name, const char *labels,
		 uint64_t v);
void rk_prom_f64(struct rk_buf *b, const char *name, const char *labels,
		 double v);
void rk_prom_hist(struct rk_buf *b, const char *name, const char *labels,
		  const struct rk_hist *h);
/* A family with one unlabelled sample: its # HELP and # TYPE lines, then
 * the sample (most of a node's metrics are such). */
void rk_prom_one_u64(struct rk_buf *b, const char *name, const char *type,
		     const char *help, uint64_t v);
void rk_prom_one_f64(struct rk_buf *b, const char *name, const char *type,
		     const char *help, double v);
void rk_prom_one_hist(struct rk_buf *b, const char *name, const char *help,
		      const struct rk_hist *h);

#endif
