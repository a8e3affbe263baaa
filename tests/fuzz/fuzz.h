/*
 * Fuzz harnesses: one file per decoder, each defining the libFuzzer entry
 * point. The same harness is linked either with driver.c (a plain main() that
 * replays a corpus and seeded mutations of it, run by ctest with gcc) or,
 * with -DRK_LIBFUZZER=ON and clang, with libFuzzer itself.
 *
 * A harness checks properties of the decoder and calls FUZZ_CHECK() on each;
 * a violated property prints where and aborts (libFuzzer, and the driver's
 * SIGABRT handler, then save the input).
 */
#ifndef RK_FUZZ_H
#define RK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: property violated: %s\n",     \
				__FILE__, __LINE__, #cond);                   \
			abort();                                              \
		}                                                             \
	} while (0)

#endif /* RK_FUZZ_H */
