/* What every Check unit test shares: running its suite and turning the result into an exit code. */
#ifndef REDPAIR_TEST_UNIT_H
#define REDPAIR_TEST_UNIT_H

#include <check.h>
#include <stdlib.h>

static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
