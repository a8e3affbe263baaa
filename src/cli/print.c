/*
 * Aligned text tables and human figures (print.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "print.h"

/* A shrinking column keeps at least this many characters. */
#define MIN_SHRUNK 8

void rk_cli_table_init(struct rk_cli_table *t, const struct rk_cli_table_col *cols,
		   size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	t->ncols = ncols > RK_TABLE_MAX_COLS ? RK_TABLE_MAX_COLS : ncols;
}

void rk_cli_table_row_v(struct rk_cli_table *t, const char *const *cells)
{
	size_t need = (t->nrows + 1) * t->ncols;

	if (t->oom)
		return;
	if (need > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64 * t->ncols;
		char **p;
		while (cap < need)
			cap *= 2;
		p = realloc(t->cells, cap * sizeof(*p));
		if (p == NULL) {
			t->oom = true;
			return;
		}
		t->cells = p;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++) {
		char *s = strdup(cells[c] != NULL ? cells[c] : "");
		if (s == NULL) {
			for (size_t k = 0; k < c; k++)
				free(t->cells[t->nrows * t->ncols + k]);
			t->oom = true;
			return;
		}
		t->cells[t->nrows * t->ncols + c] = s;
	}
	t->nrows++;
}

static void cell(FILE *out, const char *s, size_t w, bool right, bool last)
{
	size_t n = strlen(s);

	if (n > w) { /* cut: keep the start, mark the cut */
		fprintf(out, "%.*s...", (int)(w > 3 ? w - 3 : 0), s);
		n = w;
	} else if (right) {
		fprintf(out, "%*s", (int)w, s);
		n = w;
	} else {
		fputs(s, out);
	}
	if (!last)
		fprintf(out, "%*s", (int)(w - n + 2), "");
}

void rk_cli_table_print(const struct rk_cli_table *t, FILE *out, size_t width)
{
	size_t w[RK_TABLE_MAX_COLS], total = 0;

	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->cols[c].name);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);
			if (n > w[c])
				w[c] = n;
		}
		total += w[c] + (c + 1 < t->ncols ? 2 : 0);
	}
	/* Too wide for the terminal: narrow the widest shrinkable column,
	 * one character at a time, until it fits or none can give more. */
	while (width > 0 && total > width) {
		size_t best = t->ncols;
		for (size_t c = 0; c < t->ncols; c++)
			if ((t->cols[c].flags & RK_COL_SHRINK) && w[c] > MIN_SHRUNK &&
			    (best == t->ncols || w[c] > w[best]))
				best = c;
		if (best == t->ncols)
			break;
		w[best]--;
		total--;
	}
	for (size_t c = 0; c < t->ncols; c++)
		cell(out, t->cols[c].name, w[c], t->cols[c].flags & RK_COL_RIGHT,
		     c + 1 == t->ncols);
	fputc('\n', out);
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++)
			cell(out, t->cells[r * t->ncols + c], w[c],
			     t->cols[c].flags & RK_COL_RIGHT, c + 1 == t->ncols);
		fputc('\n', out);
	}
}

void rk_cli_table_free(struct rk_cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

size_t rk_cli_table_term_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0)
		return 0;
	return ws.ws_col;
}

void rk_cli_fmt_size(char *out, size_t cap, double bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	size_t u = 0;

	while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, cap, "%.0f B", bytes);
	else
		snprintf(out, cap, "%.1f %s", bytes, units[u]);
}

void rk_cli_fmt_rate(char *out, size_t cap, double v)
{
	if (v <= 0)
		snprintf(out, cap, "0");
	else if (v < 1000)
		snprintf(out, cap, "%.1f", v);
	else if (v < 1e6)
		snprintf(out, cap, "%.1fk", v / 1e3);
	else
		snprintf(out, cap, "%.1fM", v / 1e6);
}

void rk_cli_fmt_ms(char *out, size_t cap, double ms)
{
	if (ms < 1000)
		snprintf(out, cap, "%.0f ms", ms);
	else if (ms < 60000)
		snprintf(out, cap, "%.1f s", ms / 1000);
	else if (ms < 3600000)
		snprintf(out, cap, "%.0f min", ms / 60000);
	else
		snprintf(out, cap, "%.1f h", ms / 3600000);
}
