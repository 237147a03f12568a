/* Cluster mode's pure parts: the control state machine the Raft log drives, the fence's reading
 * of CLIENT LIST, and the cluster port's handshake MACs. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_state.h"
#include "cluster_transport.h"
#include "fence.h"
#include "unit.h"

static void apply_text(struct cluster_state *s, char *entry, bool expect)
{
    size_t len = strlen(entry);
    ck_assert_msg(cluster_state_apply(s, entry, len) == expect, "%s", entry);
    free(entry);
}

START_TEST(test_state_entries)
{
    struct cluster_state s;
    size_t len;
    cluster_state_init(&s);
    apply_text(&s, cluster_entry_takeover("n1", 3, &len), true);
    ck_assert_uint_eq(s.epoch, 3);
    ck_assert_str_eq(s.leader, "n1");
    apply_text(&s, cluster_entry_takeover("n2", 2, &len), true);
    ck_assert_uint_eq(s.epoch, 3); /* terms only grow */
    ck_assert_str_eq(s.leader, "n2");

    apply_text(&s, cluster_entry_primary("a", &len), true);
    apply_text(&s, cluster_entry_primary("a", &len), true);
    ck_assert_str_eq(s.primary, "a");
    ck_assert_uint_eq(s.failovers, 0);
    apply_text(&s, cluster_entry_primary("b", &len), true);
    ck_assert_uint_eq(s.failovers, 1);

    apply_text(&s, cluster_entry_backend("a", "in-sync", "r1", &len), true);
    apply_text(&s, cluster_entry_backend("b", "stale", "", &len), true);
    apply_text(&s, cluster_entry_maintenance("b", true, &len), true);
    ck_assert_int_eq(s.backend_count, 2);
    ck_assert_str_eq(cluster_state_backend(&s, "a")->state, "in-sync");
    ck_assert_str_eq(cluster_state_backend(&s, "a")->run_id, "r1");
    ck_assert(cluster_state_backend(&s, "b")->maintenance);
    ck_assert_ptr_null(cluster_state_backend(&s, "c"));
    apply_text(&s, cluster_entry_backend("c", "stale", "", &len), false); /* only two */

    apply_text(&s, cluster_entry_member("joined", "n1", 1, &len), true);
    ck_assert(cluster_state_member(&s, "n1")->joined);
    apply_text(&s, cluster_entry_member("joined", "n2", 2, &len), true);
    ck_assert(!cluster_state_member(&s, "n2")->joined); /* not its incarnation */
    apply_text(&s, cluster_entry_member("readd", "n1", 2, &len), true);
    ck_assert_uint_eq(cluster_state_member(&s, "n1")->incarnation, 2);
    ck_assert(!cluster_state_member(&s, "n1")->joined);
    apply_text(&s, cluster_entry_member("readd", "n1", 2, &len), false); /* not newer */
    apply_text(&s, cluster_entry_member("joined", "n1", 2, &len), true);
    ck_assert(cluster_state_member(&s, "n1")->joined);

    /* Settings: the latest last, one per name; what does not fit is no entry at all. */
    apply_text(&s, cluster_entry_setting("hz", "20", 2, &len), true);
    apply_text(&s, cluster_entry_setting("notify-keyspace-events", "KEA", 3, &len), true);
    apply_text(&s, cluster_entry_setting("hz", "30", 2, &len), true);
    ck_assert_int_eq(s.setting_count, 2);
    ck_assert_str_eq(s.settings[1].name, "hz");
    ck_assert_str_eq(s.settings[1].value, "30");
    char big[CLUSTER_SETTING_MAX + 1];
    memset(big, 'x', sizeof(big));
    ck_assert_ptr_null(cluster_entry_setting("save", big, sizeof(big), &len));
    ck_assert_ptr_null(cluster_entry_setting("save", "a\0b", 3, &len));
    ck_assert_ptr_null(cluster_entry_setting("save", "\xff\xfe", 2, &len));
    /* The users as ACL SETUSER left them on the leader, replaced whole. */
    const char users[] = "user default on nopass ~* &* +@all\nuser u on ~k* resetchannels -@all\n";
    apply_text(&s, cluster_entry_acl(users, strlen(users), &len), true);
    ck_assert_str_eq(s.acl, users);
    apply_text(&s, cluster_entry_acl("", 0, &len), true);
    ck_assert_str_eq(s.acl, "");
    static char huge[CLUSTER_ACL_MAX + 1];
    memset(huge, 'u', sizeof(huge));
    ck_assert_ptr_null(cluster_entry_acl(huge, sizeof(huge), &len));
    ck_assert_ptr_null(cluster_entry_acl("\xff", 1, &len));

    /* What this version does not know changes nothing; entries may be padded with spaces. */
    struct cluster_state before = s;
    char junk[] = "{\"op\":\"launch\"}", broken[] = "{\"op\":", notobj[] = "[1]";
    ck_assert(!cluster_state_apply(&s, junk, strlen(junk)));
    ck_assert(!cluster_state_apply(&s, broken, strlen(broken)));
    ck_assert(!cluster_state_apply(&s, notobj, strlen(notobj)));
    ck_assert_mem_eq(&before, &s, sizeof(s));
    char padded[] = "{\"op\":\"primary\",\"backend\":\"a\"}      ";
    ck_assert(cluster_state_apply(&s, padded, strlen(padded)));
    ck_assert_str_eq(s.primary, "a");
}
END_TEST

START_TEST(test_state_snapshot)
{
    struct cluster_state s, back;
    size_t len;
    cluster_state_init(&s);
    apply_text(&s, cluster_entry_takeover("n2", 7, &len), true);
    apply_text(&s, cluster_entry_primary("b", &len), true);
    apply_text(&s, cluster_entry_primary("a", &len), true);
    apply_text(&s, cluster_entry_backend("a", "in-sync", "r", &len), true);
    apply_text(&s, cluster_entry_maintenance("b", true, &len), true);
    apply_text(&s, cluster_entry_member("readd", "w", 3, &len), true);
    apply_text(&s, cluster_entry_setting("hz", "25", 2, &len), true);
    apply_text(&s, cluster_entry_acl("user u on\n", 10, &len), true);
    char *text = cluster_state_encode(&s, &len);
    ck_assert(cluster_state_decode(&back, text, len));
    free(text);
    ck_assert_uint_eq(back.epoch, 7);
    ck_assert_str_eq(back.leader, "n2");
    ck_assert_str_eq(back.primary, "a");
    ck_assert_uint_eq(back.failovers, 1);
    ck_assert_str_eq(cluster_state_backend(&back, "a")->run_id, "r");
    ck_assert(cluster_state_backend(&back, "b")->maintenance);
    ck_assert_uint_eq(cluster_state_member(&back, "w")->incarnation, 3);
    ck_assert(!cluster_state_member(&back, "w")->joined);
    ck_assert_int_eq(back.setting_count, 1);
    ck_assert_str_eq(back.settings[0].value, "25");
    ck_assert_str_eq(back.acl, "user u on\n");
    ck_assert(!cluster_state_decode(&back, "nope", 4));
}
END_TEST

START_TEST(test_fence_older_clients)
{
    static const char list[] =
        "id=3 addr=127.0.0.1:5 laddr=127.0.0.1:6379 fd=8 name=redpair-4-n1-link age=9\n"
        "id=4 addr=127.0.0.1:6 laddr=127.0.0.1:6379 fd=9 name=redpair-5-n2-monitor age=1\n"
        "id=5 addr=127.0.0.1:7 laddr=127.0.0.1:6379 fd=10 name=redpair-probe-w age=1\n"
        "id=6 addr=127.0.0.1:8 laddr=127.0.0.1:6379 fd=11 name= age=1\n"
        "id=7 addr=127.0.0.1:9 laddr=127.0.0.1:6379 fd=12 name=myapp-redpair-1-x age=1\n"
        "id=12 addr=127.0.0.1:10 laddr=127.0.0.1:6379 fd=13 name=redpair-12-n1-link age=1";
    uint64_t ids[8];
    size_t n = fence_older_clients(list, strlen(list), 5, ids, 8);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(ids[0], 3);
    n = fence_older_clients(list, strlen(list), 13, ids, 8);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(ids[2], 12);
    ck_assert_uint_eq(fence_older_clients(list, strlen(list), 13, ids, 1), 1);
    ck_assert_uint_eq(fence_older_clients("", 0, 13, ids, 8), 0);

    char name[64];
    fence_client_name(name, sizeof(name), 9, "n2", "link");
    ck_assert_str_eq(name, "redpair-9-n2-link");
    const char *argv[FENCE_ARGC];
    char digits[24];
    ck_assert_int_eq(fence_command(9, argv, digits), FENCE_ARGC);
    ck_assert_str_eq(argv[0], "EVAL");
    ck_assert_str_eq(argv[3], FENCE_KEY);
    ck_assert_str_eq(argv[5], "9");
    ck_assert(fence_refused("FENCED epoch 9 holds", 20));
    ck_assert(!fence_refused("READONLY", 8));
}
END_TEST

START_TEST(test_handshake_macs)
{
    unsigned char n1[16] = {1}, n2[16] = {2}, m1[32], m2[32], m3[32];
    cluster_transport_mac("secret-token-0123", "acceptor", 1, "n1", 42, n1, n2, m1);
    cluster_transport_mac("secret-token-0123", "acceptor", 1, "n1", 42, n1, n2, m2);
    ck_assert_mem_eq(m1, m2, 32); /* both ends compute the same */
    cluster_transport_mac("another-token-012", "acceptor", 1, "n1", 42, n1, n2, m3);
    ck_assert(memcmp(m1, m3, 32) != 0);
    cluster_transport_mac("secret-token-0123", "connector", 1, "n1", 42, n1, n2, m3);
    ck_assert(memcmp(m1, m3, 32) != 0); /* one side's proof is not the other's */
    cluster_transport_mac("secret-token-0123", "acceptor", 2, "n1", 42, n1, n2, m3);
    ck_assert(memcmp(m1, m3, 32) != 0);
    cluster_transport_mac("secret-token-0123", "acceptor", 1, "n2", 42, n1, n2, m3);
    ck_assert(memcmp(m1, m3, 32) != 0);
    cluster_transport_mac("secret-token-0123", "acceptor", 1, "n1", 43, n1, n2, m3);
    ck_assert(memcmp(m1, m3, 32) != 0);
    cluster_transport_mac("secret-token-0123", "acceptor", 1, "n1", 42, n2, n1, m3);
    ck_assert(memcmp(m1, m3, 32) != 0); /* a replayed answer to other nonces does not fit */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("cluster");
    tcase_add_test(tc, test_state_entries);
    tcase_add_test(tc, test_state_snapshot);
    tcase_add_test(tc, test_fence_older_clients);
    tcase_add_test(tc, test_handshake_macs);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
