/* CHECK(cond): a fuzz target's assertion, which aborts so that libFuzzer reports the input. */
#ifndef REDPAIR_FUZZ_CHECK_H
#define REDPAIR_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
