/* The key table behind WATCH, blocked clients and the known scripts: owners in arrival order,
 * each owner's keys gone at once, whole keys gone, databases apart, growth. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "keytable.h"
#include "unit.h"

static struct keylink *first_link(const struct keytable *t, int db, const char *key)
{
    struct keyentry *e = keytable_find(t, db, key, strlen(key));
    return e ? e->head : NULL;
}

static int owners_of(const struct keytable *t, int db, const char *key)
{
    int n = 0;
    for (struct keylink *l = first_link(t, db, key); l; l = l->next) n++;
    return n;
}

START_TEST(test_owners_in_arrival_order)
{
    struct keytable t = {0};
    struct keylink *a = NULL, *b = NULL, *c = NULL;
    int ida, idb, idc;
    ck_assert(keytable_empty(&t));
    ck_assert_ptr_null(keytable_find(&t, 0, "k", 1));
    keytable_add(&t, 0, "k", 1, &idb, &b);
    keytable_add(&t, 0, "k", 1, &ida, &a);
    keytable_add(&t, 0, "k", 1, &idc, &c);
    keytable_add(&t, 0, "k", 1, &ida, &a); /* a second time: not added */
    ck_assert_uint_eq(t.count, 1);
    struct keylink *l = first_link(&t, 0, "k");
    ck_assert_ptr_eq(l->owner, &idb);
    ck_assert_ptr_eq(l->next->owner, &ida);
    ck_assert_ptr_eq(l->next->next->owner, &idc);
    ck_assert_ptr_null(l->next->next->next);
    ck_assert_ptr_eq(l->next->prev, l);

    keytable_remove_all(&t, &a); /* from the middle */
    ck_assert_ptr_null(a);
    ck_assert_int_eq(owners_of(&t, 0, "k"), 2);
    keytable_remove_all(&t, &b); /* the head */
    ck_assert_ptr_eq(first_link(&t, 0, "k")->owner, &idc);
    keytable_remove_all(&t, &c); /* the last owner takes the key out */
    ck_assert(keytable_empty(&t));
    ck_assert_ptr_null(keytable_find(&t, 0, "k", 1));
    keytable_free(&t);
}
END_TEST

START_TEST(test_databases_and_binary_keys_apart)
{
    struct keytable t = {0};
    struct keylink *a = NULL;
    int id;
    keytable_add(&t, 0, "k", 1, &id, &a);
    keytable_add(&t, 1, "k", 1, &id, &a);
    keytable_add(&t, 0, "k\0x", 3, &id, &a);
    keytable_add(&t, 0, "", 0, &id, &a);
    ck_assert_uint_eq(t.count, 4);
    ck_assert_ptr_nonnull(keytable_find(&t, 1, "k", 1));
    ck_assert_ptr_null(keytable_find(&t, 2, "k", 1));
    ck_assert_ptr_nonnull(keytable_find(&t, 0, "k\0x", 3));
    ck_assert_ptr_null(keytable_find(&t, 0, "k\0y", 3));
    ck_assert_ptr_nonnull(keytable_find(&t, 0, "", 0));
    keytable_remove_all(&t, &a);
    ck_assert(keytable_empty(&t));
    keytable_free(&t);
}
END_TEST

static void count_link(struct keylink *l, void *ctx)
{
    (void)l;
    ++*(int *)ctx;
}

START_TEST(test_remove_key_and_each)
{
    struct keytable t = {0};
    struct keylink *a = NULL, *b = NULL;
    int ida, idb;
    keytable_add(&t, 0, "x", 1, &ida, &a);
    keytable_add(&t, 0, "y", 1, &ida, &a);
    keytable_add(&t, 0, "x", 1, &idb, &b);
    keytable_add(&t, 3, "z", 1, &idb, &b);
    int n = 0;
    keytable_each_in_db(&t, 0, count_link, &n);
    ck_assert_int_eq(n, 3);
    n = 0;
    keytable_each_in_db(&t, -1, count_link, &n);
    ck_assert_int_eq(n, 4);
    n = 0;
    keytable_each_on_key(&t, 0, "x", 1, count_link, &n);
    ck_assert_int_eq(n, 2);
    keytable_each_on_key(&t, 1, "x", 1, count_link, &n); /* another database: nobody */
    ck_assert_int_eq(n, 2);

    /* x goes with both its owners; each keeps its other keys */
    keytable_remove_key(&t, keytable_find(&t, 0, "x", 1));
    ck_assert_ptr_null(keytable_find(&t, 0, "x", 1));
    ck_assert_ptr_eq(a->entry, keytable_find(&t, 0, "y", 1));
    ck_assert_ptr_null(a->owner_next);
    ck_assert_ptr_eq(b->entry, keytable_find(&t, 3, "z", 1));
    ck_assert_ptr_null(b->owner_next);
    keytable_remove_all(&t, &a);
    keytable_remove_all(&t, &b);
    ck_assert(keytable_empty(&t));
    keytable_free(&t);
}
END_TEST

START_TEST(test_grows_and_frees)
{
    struct keytable t = {0};
    struct keylink *odd = NULL, *even = NULL;
    int o, e;
    char key[16];
    for (int i = 0; i < 5000; i++) {
        int len = snprintf(key, sizeof(key), "key:%d", i);
        keytable_add(&t, i % 16, key, (size_t)len, i % 2 ? &o : &e, i % 2 ? &odd : &even);
    }
    ck_assert_uint_eq(t.count, 5000);
    ck_assert_uint_ge(t.nbuckets, 5000);
    for (int i = 0; i < 5000; i++) {
        int len = snprintf(key, sizeof(key), "key:%d", i);
        struct keyentry *found = keytable_find(&t, i % 16, key, (size_t)len);
        ck_assert_ptr_nonnull(found);
        ck_assert_ptr_eq(found->head->owner, i % 2 ? &o : &e);
    }
    keytable_remove_all(&t, &odd);
    ck_assert_uint_eq(t.count, 2500);
    keytable_free(&t); /* the even owner's links with it */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keytable");
    TCase *tc = tcase_create("keytable");
    tcase_add_test(tc, test_owners_in_arrival_order);
    tcase_add_test(tc, test_databases_and_binary_keys_apart);
    tcase_add_test(tc, test_remove_key_and_each);
    tcase_add_test(tc, test_grows_and_frees);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
