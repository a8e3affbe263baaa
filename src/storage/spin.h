/*
 * When the storage thread polls its queue before sleeping (spin.c): only
 * while batches arrive faster than the poll window. Private to
 * src/storage; a pure function of the observed gaps, so a test can drive it.
 */
#ifndef RK_STORE_SPIN_H
#define RK_STORE_SPIN_H

#include <stdbool.h>
#include <stdint.h>

/* How long the storage thread polls an empty queue before sleeping. */
#define STORE_SPIN_S 0.0002
/* How many of the latest idle gaps the decision looks at, and how many of
 * them must have been shorter than STORE_SPIN_S for the thread to poll. */
#define STORE_SPIN_HISTORY 8
#define STORE_SPIN_NEED 6

/* The latest idle gaps, as one bit each (1: shorter than the window).
 * Zeroed, it has seen nothing and does not poll. */
struct store_spin {
	uint32_t short_bits; /* bit 0 the newest gap */
};

/* Notes one idle gap: the seconds from the moment the storage thread
 * found its queue empty after a group (0 when it was not) until it took
 * the next batch, polling or sleeping meanwhile. */
void store_spin_note(struct store_spin *sp, double gap_s);

/* Whether to poll before sleeping: at least STORE_SPIN_NEED of the last
 * STORE_SPIN_HISTORY gaps were shorter than STORE_SPIN_S. */
bool store_spin_wanted(const struct store_spin *sp);

#endif
