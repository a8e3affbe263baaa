/*
 * The storage thread's adaptive poll. Waking a sleeping thread costs about
 * as much as a flush on fast disks, so under load the thread polls its
 * queue for STORE_SPIN_S before sleeping: the next batch usually arrives
 * within tens of microseconds. At light load (one client without
 * pipelining) the next batch comes a network round trip or more later, and
 * every poll is STORE_SPIN_S of CPU burnt for nothing, on every node, per
 * batch. So the thread polls only while most recent gaps were shorter than
 * the window; a gap it sleeps through is still measured (from empty queue
 * to taking the next batch), so it starts polling again once load returns.
 */
#include "spin.h"

void store_spin_note(struct store_spin *sp, double gap_s)
{
	uint32_t mask = (1u << STORE_SPIN_HISTORY) - 1;

	sp->short_bits = ((sp->short_bits << 1) | (gap_s < STORE_SPIN_S ? 1u : 0u)) & mask;
}

bool store_spin_wanted(const struct store_spin *sp)
{
	uint32_t bits = sp->short_bits, n = 0;

	for (; bits != 0; bits &= bits - 1)
		n++;
	return n >= STORE_SPIN_NEED;
}
