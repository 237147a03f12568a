/* The store on a real SQLite file in a fresh directory: what is committed survives a close and
 * a reopen, callbacks run on the loop in submission order, events page by id, overrides read
 * back, and the refusals (a state-dir in use, a schema from a newer redpair, a path that cannot
 * be a directory) come with a reason. */
#include <check.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <uv.h>

#include "store.h"
#include "unit.h"

static char dir[256];
static char err[1024];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/redpair-test-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void open_store(void)
{
    ck_assert_msg(store_open(uv_default_loop(), dir, err, sizeof(err)), "%s", err);
}

static void close_store(void)
{
    store_close();
    uv_run(uv_default_loop(), UV_RUN_NOWAIT); /* lets the closed handle go */
}

/* Callbacks record their order. */
static int order[16], answered;

static void epoch_done(void *arg, bool ok)
{
    ck_assert(ok);
    order[answered++] = (int)(intptr_t)arg;
}

static struct store_event page[64];
static int page_count;

static void page_done(void *arg, const struct store_event *events, int count)
{
    order[answered++] = (int)(intptr_t)arg;
    page_count = count;
    if (count > 0) memcpy(page, events, sizeof(*events) * (size_t)count);
}

/* Runs the loop until every owed callback ran: the store keeps the loop alive exactly that long. */
static void settle(void)
{
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}

START_TEST(test_fresh_state_is_empty)
{
    make_dir();
    open_store();
    struct store_state st;
    ck_assert_msg(store_load(&st, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(st.epoch, 0);
    ck_assert_str_eq(st.primary, "");
    ck_assert_int_eq(st.backend_count, 0);
    close_store();

    char path[300];
    snprintf(path, sizeof(path), "%s/redpair.db", dir);
    ck_assert_int_eq(access(path, R_OK | W_OK), 0);
    remove_dir();
}
END_TEST

START_TEST(test_state_survives_reopen)
{
    make_dir();
    open_store();
    struct store_backend a = {.name = "a", .state = "down", .run_id = "r-a1", .offset = 10};
    struct store_backend b = {.name = "b", .state = "in-sync", .run_id = "r-b1", .offset = 42};
    store_backend_update(&a);
    store_backend_update(&b);
    store_commit_epoch(7, "b", epoch_done, (void *)1);
    a.offset = 12;
    snprintf(a.state, sizeof(a.state), "stale");
    store_backend_update(&a);
    store_config_set("write-ack", "primary");
    store_config_set("write-ack", "all"); /* the last value wins */
    store_config_set("loglevel", "debug");
    answered = 0;
    settle();
    ck_assert_int_eq(answered, 1);
    close_store();

    open_store();
    struct store_state st;
    ck_assert_msg(store_load(&st, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(st.epoch, 7);
    ck_assert_str_eq(st.primary, "b");
    ck_assert_int_eq(st.backend_count, 2);
    ck_assert_str_eq(st.backends[0].name, "a");
    ck_assert_str_eq(st.backends[0].state, "stale");
    ck_assert_int_eq(st.backends[0].offset, 12);
    ck_assert_str_eq(st.backends[1].run_id, "r-b1");
    ck_assert_int_eq(st.backends[1].offset, 42);
    close_store();
    remove_dir();
}
END_TEST

static char overrides[256];

static void collect_override(void *arg, const char *name, const char *value)
{
    (void)arg;
    size_t n = strlen(overrides);
    snprintf(overrides + n, sizeof(overrides) - n, "%s=%s;", name, value);
}

START_TEST(test_config_overrides)
{
    make_dir();
    open_store();
    store_config_set("write-ack", "primary");
    store_config_set("probe-interval-ms", "250");
    store_config_set("write-ack", "all");
    close_store(); /* close finishes what was queued */

    open_store();
    overrides[0] = '\0';
    ck_assert_msg(store_config_each(collect_override, NULL, err, sizeof(err)), "%s", err);
    ck_assert_str_eq(overrides, "probe-interval-ms=250;write-ack=all;");
    close_store();
    remove_dir();
}
END_TEST

START_TEST(test_events_in_order_and_paged)
{
    make_dir();
    open_store();
    for (int i = 0; i < 10; i++) store_event(3, "state", i % 2 ? "b" : "a", "event %d", i);
    store_events_page(0, 4, page_done, (void *)1);
    store_commit_epoch(4, "a", epoch_done, (void *)2);
    store_events_page(0, 100, page_done, (void *)3);
    answered = 0;
    settle();
    ck_assert_int_eq(answered, 3);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 2);
    ck_assert_int_eq(order[2], 3);
    ck_assert_int_eq(page_count, 10); /* the last page read sees everything queued before it */
    for (int i = 0; i < 10; i++) {
        char want[32];
        snprintf(want, sizeof(want), "event %d", i);
        ck_assert_str_eq(page[i].detail, want);
        ck_assert_str_eq(page[i].kind, "state");
        ck_assert_str_eq(page[i].backend, i % 2 ? "b" : "a");
        ck_assert_int_eq(page[i].epoch, 3);
        ck_assert(page[i].time_ms > 1700000000000LL);
        if (i) ck_assert(page[i].id > page[i - 1].id);
    }

    int64_t after = page[5].id;
    store_events_page(after, 3, page_done, (void *)4);
    answered = 0;
    settle();
    ck_assert_int_eq(page_count, 3);
    ck_assert_str_eq(page[0].detail, "event 6");
    ck_assert_str_eq(page[2].detail, "event 8");

    store_events_page(page[2].id + 1, 10, page_done, (void *)5);
    settle();
    ck_assert_int_eq(page_count, 0);

    /* A detail longer than the column keeps its beginning. */
    char big[2 * STORE_DETAIL_MAX];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    store_event(4, "divergence", "", "%s", big);
    store_events_page(page[2].id + 1, 10, page_done, (void *)6);
    settle();
    ck_assert_int_eq(page_count, 1);
    ck_assert_int_eq(strlen(page[0].detail), STORE_DETAIL_MAX - 1);
    ck_assert_str_eq(page[0].backend, "");
    close_store();
    remove_dir();
}
END_TEST

START_TEST(test_state_dir_in_use_is_refused)
{
    make_dir();
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0); /* as another redpair holds it */
    ck_assert(!store_open(uv_default_loop(), dir, err, sizeof(err)));
    ck_assert_msg(strstr(err, "in use by another redpair") != NULL, "%s", err);
    close(fd);
    open_store(); /* free again */
    close_store();
    remove_dir();
}
END_TEST

START_TEST(test_newer_schema_is_refused)
{
    make_dir();
    open_store();
    close_store();
    char path[300];
    snprintf(path, sizeof(path), "%s/redpair.db", dir);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    ck_assert(!store_open(uv_default_loop(), dir, err, sizeof(err)));
    ck_assert_msg(strstr(err, path) && strstr(err, "schema version 99 is newer"), "%s", err);
    remove_dir();
}
END_TEST

START_TEST(test_unusable_state_dir_is_refused)
{
    make_dir();
    char file[300];
    snprintf(file, sizeof(file), "%s/plain-file", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    char below[320];
    snprintf(below, sizeof(below), "%s/state", file);
    ck_assert(!store_open(uv_default_loop(), below, err, sizeof(err)));
    ck_assert_msg(strstr(err, "cannot create") != NULL, "%s", err);

    /* A missing chain of directories is created. */
    snprintf(below, sizeof(below), "%s/x/y/z", dir);
    ck_assert_msg(store_open(uv_default_loop(), below, err, sizeof(err)), "%s", err);
    close_store();
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_test(tc, test_fresh_state_is_empty);
    tcase_add_test(tc, test_state_survives_reopen);
    tcase_add_test(tc, test_config_overrides);
    tcase_add_test(tc, test_events_in_order_and_paged);
    tcase_add_test(tc, test_state_dir_in_use_is_refused);
    tcase_add_test(tc, test_newer_schema_is_refused);
    tcase_add_test(tc, test_unusable_state_dir_is_refused);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
