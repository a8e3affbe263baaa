#include "prom.h"

#include <math.h>
#include <stdio.h>

const double rk_hist_bounds[RK_HIST_BUCKETS] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   INFINITY,
};

void rk_hist_observe(struct rk_hist *h, double seconds)
{
	int i;

	for (i = 0; i < RK_HIST_BUCKETS - 1 && seconds > rk_hist_bounds[i]; i++)
		;
	h->le[i]++;
	h->count++;
	h->sum += seconds;
}

double rk_hist_quantile(const struct rk_hist *h, double q)
{
	uint64_t want, acc = 0;
	int i;

	if (h->count == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)h->count);
	if (want == 0)
		want = 1;
	for (i = 0; i < RK_HIST_BUCKETS; i++) {
		acc += h->le[i];
		if (acc >= want)
			return rk_hist_bounds[i];
	}
	return INFINITY;
}

void rk_prom_family(struct rk_buf *b, const char *name, const char *type,
		    const char *help)
{
	rk_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void head(struct rk_buf *b, const char *name, const char *suffix,
		 const char *labels, const char *extra)
{
	rk_buf_puts(b, name);
	rk_buf_puts(b, suffix);
	if ((labels != NULL && labels[0]) || extra != NULL) {
		rk_buf_putc(b, '{');
		if (labels != NULL && labels[0]) {
			rk_buf_puts(b, labels);
			if (extra != NULL)
				rk_buf_putc(b, ',');
		}
		if (extra != NULL)
			rk_buf_puts(b, extra);
		rk_buf_putc(b, '}');
	}
	rk_buf_putc(b, ' ');
}

void rk_prom_u64(struct rk_buf *b, const char *name, const char *labels,
		 uint64_t v)
{
	head(b, name, "", labels, NULL);
	rk_buf_printf(b, "%llu\n", (unsigned long long)v);
}

void rk_prom_f64(struct rk_buf *b, const char *name, const char *labels,
		 double v)
{
	head(b, name, "", labels, NULL);
	rk_buf_printf(b, "%.9g\n", v);
}

void rk_prom_hist(struct rk_buf *b, const char *name, const char *labels,
		  const struct rk_hist *h)
{
	char le[48];
	uint64_t acc = 0;
	int i;

	for (i = 0; i < RK_HIST_BUCKETS; i++) {
		acc += h->le[i];
		if (isinf(rk_hist_bounds[i]))
			snprintf(le, sizeof(le), "le=\"+Inf\"");
		else
			snprintf(le, sizeof(le), "le=\"%g\"", rk_hist_bounds[i]);
		head(b, name, "_bucket", labels, le);
		rk_buf_printf(b, "%llu\n", (unsigned long long)acc);
	}
	head(b, name, "_sum", labels, NULL);
	rk_buf_printf(b, "%.9g\n", h->sum);
	head(b, name, "_count", labels, NULL);
	rk_buf_printf(b, "%llu\n", (unsigned long long)h->count);
}

void rk_prom_one_u64(struct rk_buf *b, const char *name, const char *type,
		     const char *help, uint64_t v)
{
	rk_prom_family(b, name, type, help);
	rk_prom_u64(b, name, NULL, v);
}

void rk_prom_one_f64(struct rk_buf *b, const char *name, const char *type,
		     const char *help, double v)
{
	rk_prom_family(b, name, type, help);
	rk_prom_f64(b, name, NULL, v);
}

void rk_prom_one_hist(struct rk_buf *b, const char *name, const char *help,
		      const struct rk_hist *h)
{
	rk_prom_family(b, name, "histogram", help);
	rk_prom_hist(b, name, NULL, h);
}
