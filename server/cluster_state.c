#include "cluster_state.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy_name(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

void cluster_state_init(struct cluster_state *s)
{
    memset(s, 0, sizeof(*s));
}

static struct cluster_backend *backend_slot(struct cluster_state *s, const char *name)
{
    for (int i = 0; i < s->backend_count; i++)
        if (strcmp(s->backends[i].name, name) == 0) return &s->backends[i];
    if (s->backend_count == CONFIG_BACKENDS || !name[0] || strlen(name) >= CONFIG_NAME_MAX)
        return NULL;
    struct cluster_backend *b = &s->backends[s->backend_count++];
    memset(b, 0, sizeof(*b));
    copy_name(b->name, sizeof(b->name), name);
    return b;
}

static struct cluster_member *member_slot(struct cluster_state *s, const char *name)
{
    for (int i = 0; i < s->member_count; i++)
        if (strcmp(s->members[i].name, name) == 0) return &s->members[i];
    if (s->member_count == CLUSTER_MAX_NODES || !name[0] || strlen(name) >= CONFIG_NAME_MAX)
        return NULL;
    struct cluster_member *m = &s->members[s->member_count++];
    memset(m, 0, sizeof(*m));
    copy_name(m->name, sizeof(m->name), name);
    m->incarnation = 1;
    return m;
}

const struct cluster_backend *cluster_state_backend(const struct cluster_state *s, const char *name)
{
    for (int i = 0; i < s->backend_count; i++)
        if (strcmp(s->backends[i].name, name) == 0) return &s->backends[i];
    return NULL;
}

const struct cluster_member *cluster_state_member(const struct cluster_state *s, const char *name)
{
    for (int i = 0; i < s->member_count; i++)
        if (strcmp(s->members[i].name, name) == 0) return &s->members[i];
    return NULL;
}

/* The latest value goes last, replacing an earlier one of the same name. */
static bool set_setting(struct cluster_state *s, const char *name, const char *value)
{
    if (!name[0] || strlen(name) >= CLUSTER_SETTING_NAME || strlen(value) >= CLUSTER_SETTING_MAX)
        return false;
    for (int i = 0; i < s->setting_count; i++) {
        if (strcmp(s->settings[i].name, name) != 0) continue;
        memmove(&s->settings[i], &s->settings[i + 1],
                (size_t)(s->setting_count - i - 1) * sizeof(s->settings[0]));
        s->setting_count--;
        break;
    }
    if (s->setting_count == CLUSTER_MAX_SETTINGS) return false;
    struct cluster_setting *st = &s->settings[s->setting_count++];
    memset(st, 0, sizeof(*st));
    copy_name(st->name, sizeof(st->name), name);
    copy_name(st->value, sizeof(st->value), value);
    return true;
}

static const char *str_of(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static bool apply_object(struct cluster_state *s, json_t *o)
{
    const char *op = str_of(o, "op");
    json_t *n;
    if (!strcmp(op, "takeover")) {
        n = json_object_get(o, "epoch");
        if (!json_is_integer(n) || json_integer_value(n) < 0) return false;
        uint64_t epoch = (uint64_t)json_integer_value(n);
        if (epoch > s->epoch) s->epoch = epoch; /* terms only grow */
        copy_name(s->leader, sizeof(s->leader), str_of(o, "node"));
        return true;
    }
    if (!strcmp(op, "primary")) {
        const char *b = str_of(o, "backend");
        if (!b[0] || strlen(b) >= CONFIG_NAME_MAX) return false;
        if (s->primary[0] && strcmp(s->primary, b) != 0) s->failovers++;
        copy_name(s->primary, sizeof(s->primary), b);
        return true;
    }
    if (!strcmp(op, "backend") || !strcmp(op, "maintenance")) {
        struct cluster_backend *b = backend_slot(s, str_of(o, "backend"));
        if (!b) return false;
        if (!strcmp(op, "maintenance")) {
            b->maintenance = json_is_true(json_object_get(o, "on"));
            return true;
        }
        copy_name(b->state, sizeof(b->state), str_of(o, "state"));
        copy_name(b->run_id, sizeof(b->run_id), str_of(o, "run_id"));
        return true;
    }
    if (!strcmp(op, "setting")) return set_setting(s, str_of(o, "name"), str_of(o, "value"));
    if (!strcmp(op, "acl")) {
        const char *users = str_of(o, "users");
        if (strlen(users) >= sizeof(s->acl)) return false;
        copy_name(s->acl, sizeof(s->acl), users);
        return true;
    }
    if (!strcmp(op, "joined") || !strcmp(op, "readd")) {
        n = json_object_get(o, "incarnation");
        if (!json_is_integer(n) || json_integer_value(n) < 1) return false;
        struct cluster_member *m = member_slot(s, str_of(o, "node"));
        if (!m) return false;
        unsigned inc = (unsigned)json_integer_value(n);
        if (!strcmp(op, "readd")) {
            if (inc <= m->incarnation) return false;
            m->incarnation = inc;
            m->joined = false;
        } else if (inc == m->incarnation) {
            m->joined = true;
        }
        return true;
    }
    return false;
}

bool cluster_state_apply(struct cluster_state *s, const void *entry, size_t len)
{
    json_t *o = json_loadb(entry, len, 0, NULL);
    bool ok = json_is_object(o) && apply_object(s, o);
    json_decref(o);
    return ok;
}

static char *dump(json_t *o, size_t *len)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text) abort();
    *len = strlen(text);
    return text;
}

char *cluster_state_encode(const struct cluster_state *s, size_t *len)
{
    json_t *backends = json_array(), *members = json_array();
    for (int i = 0; i < s->backend_count; i++) {
        const struct cluster_backend *b = &s->backends[i];
        json_array_append_new(backends,
                              json_pack("{s:s, s:s, s:s, s:b}", "name", b->name, "state", b->state,
                                        "run_id", b->run_id, "maintenance", b->maintenance));
    }
    for (int i = 0; i < s->member_count; i++) {
        const struct cluster_member *m = &s->members[i];
        json_array_append_new(members, json_pack("{s:s, s:I, s:b}", "name", m->name, "incarnation",
                                                 (json_int_t)m->incarnation, "joined", m->joined));
    }
    json_t *settings = json_array();
    for (int i = 0; i < s->setting_count; i++)
        json_array_append_new(settings, json_pack("{s:s, s:s}", "name", s->settings[i].name,
                                                  "value", s->settings[i].value));
    return dump(json_pack("{s:I, s:s, s:s, s:I, s:o, s:o, s:o, s:s}", "epoch", (json_int_t)s->epoch,
                          "leader", s->leader, "primary", s->primary, "failovers",
                          (json_int_t)s->failovers, "backends", backends, "members", members,
                          "settings", settings, "acl", s->acl),
                len);
}

bool cluster_state_decode(struct cluster_state *s, const void *data, size_t len)
{
    json_t *o = json_loadb(data, len, 0, NULL), *v;
    size_t i;
    if (!json_is_object(o)) {
        json_decref(o);
        return false;
    }
    struct cluster_state fresh;
    cluster_state_init(&fresh);
    fresh.epoch = (uint64_t)json_integer_value(json_object_get(o, "epoch"));
    fresh.failovers = (uint64_t)json_integer_value(json_object_get(o, "failovers"));
    copy_name(fresh.leader, sizeof(fresh.leader), str_of(o, "leader"));
    copy_name(fresh.primary, sizeof(fresh.primary), str_of(o, "primary"));
    json_array_foreach(json_object_get(o, "backends"), i, v)
    {
        struct cluster_backend *b = backend_slot(&fresh, str_of(v, "name"));
        if (!b) continue;
        copy_name(b->state, sizeof(b->state), str_of(v, "state"));
        copy_name(b->run_id, sizeof(b->run_id), str_of(v, "run_id"));
        b->maintenance = json_is_true(json_object_get(v, "maintenance"));
    }
    json_array_foreach(json_object_get(o, "members"), i, v)
    {
        struct cluster_member *m = member_slot(&fresh, str_of(v, "name"));
        if (!m) continue;
        json_int_t inc = json_integer_value(json_object_get(v, "incarnation"));
        m->incarnation = inc > 0 ? (unsigned)inc : 1;
        m->joined = json_is_true(json_object_get(v, "joined"));
    }
    json_array_foreach(json_object_get(o, "settings"), i, v)
        set_setting(&fresh, str_of(v, "name"), str_of(v, "value"));
    const char *acl = str_of(o, "acl");
    if (strlen(acl) < sizeof(fresh.acl)) copy_name(fresh.acl, sizeof(fresh.acl), acl);
    json_decref(o);
    *s = fresh;
    return true;
}

char *cluster_entry_takeover(const char *node, uint64_t epoch, size_t *len)
{
    return dump(
        json_pack("{s:s, s:s, s:I}", "op", "takeover", "node", node, "epoch", (json_int_t)epoch),
        len);
}

char *cluster_entry_primary(const char *backend, size_t *len)
{
    return dump(json_pack("{s:s, s:s}", "op", "primary", "backend", backend), len);
}

char *cluster_entry_backend(const char *backend, const char *state, const char *run_id, size_t *len)
{
    return dump(json_pack("{s:s, s:s, s:s, s:s}", "op", "backend", "backend", backend, "state",
                          state, "run_id", run_id ? run_id : ""),
                len);
}

char *cluster_entry_maintenance(const char *backend, bool on, size_t *len)
{
    return dump(json_pack("{s:s, s:s, s:b}", "op", "maintenance", "backend", backend, "on", on),
                len);
}

char *cluster_entry_member(const char *op, const char *node, unsigned incarnation, size_t *len)
{
    return dump(json_pack("{s:s, s:s, s:I}", "op", op, "node", node, "incarnation",
                          (json_int_t)incarnation),
                len);
}

char *cluster_entry_acl(const char *users, size_t len, size_t *entry_len)
{
    if (len >= CLUSTER_ACL_MAX || memchr(users, '\0', len)) return NULL;
    json_t *o = json_pack("{s:s, s:s#}", "op", "acl", "users", users, (int)len);
    if (!o) return NULL; /* not UTF-8 */
    return dump(o, entry_len);
}

char *cluster_entry_setting(const char *name, const char *value, size_t vlen, size_t *len)
{
    if (strlen(name) >= CLUSTER_SETTING_NAME || vlen >= CLUSTER_SETTING_MAX ||
        memchr(value, '\0', vlen))
        return NULL;
    json_t *o =
        json_pack("{s:s, s:s, s:s#}", "op", "setting", "name", name, "value", value, (int)vlen);
    if (!o) return NULL; /* not UTF-8 */
    return dump(o, len);
}
