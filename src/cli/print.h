/*
 * Aligned text tables and human figures for the inspection verbs.
 *
 * A table collects its cells, then prints each column as wide as its
 * widest cell (numbers to the right), two spaces apart. When stdout is a
 * terminal narrower than the table, the columns marked to shrink (keys,
 * commands) are cut, with "..." at the cut, until the table fits or they
 * are down to a few characters.
 */
#ifndef RK_CLI_PRINT_H
#define RK_CLI_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RK_TABLE_MAX_COLS 16

enum rk_cli_table_col_flags {
	RK_COL_RIGHT = 1u << 0,  /* right-aligned (numbers) */
	RK_COL_SHRINK = 1u << 1, /* may be cut to fit the terminal */
};

struct rk_cli_table_col {
	const char *name;
	unsigned flags;
};

struct rk_cli_table {
	const struct rk_cli_table_col *cols;
	size_t ncols;
	char **cells; /* row-major, nrows * ncols, each malloc'd */
	size_t nrows, cap;
	bool oom;
};

void rk_cli_table_init(struct rk_cli_table *t, const struct rk_cli_table_col *cols,
		   size_t ncols);
/* Appends a row: t->ncols cells (copied; NULL prints empty). A failed
 * allocation sets t->oom and drops the row. */
void rk_cli_table_row_v(struct rk_cli_table *t, const char *const *cells);
/* Prints it to out; width 0: no limit (not a terminal). */
void rk_cli_table_print(const struct rk_cli_table *t, FILE *out, size_t width);
void rk_cli_table_free(struct rk_cli_table *t);

/* Columns of the terminal on stdout, 0 if it is not one. */
size_t rk_cli_table_term_width(void);

/* "0 B", "512 B", "1.5 KiB", "20.0 MiB", ... */
void rk_cli_fmt_size(char *out, size_t cap, double bytes);
/* "0", "0.4", "12.3", "1.2k", "3.4M": events per second. */
void rk_cli_fmt_rate(char *out, size_t cap, double per_sec);
/* "40 ms", "3.2 s", "5 min", "2.0 h". */
void rk_cli_fmt_ms(char *out, size_t cap, double ms);

#endif
