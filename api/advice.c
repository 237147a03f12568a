#include "advice.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "monitor.h"
#include "proxy.h"

#define OVERCOMMIT_PATH "/proc/sys/vm/overcommit_memory"
#define THP_PATH        "/sys/kernel/mm/transparent_hugepage/enabled"

static void add(json_t *list, const char *severity, const char *backend, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(json_t *list, const char *severity, const char *backend, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(list, json_pack("{s:s, s:s?, s:s}", "severity", severity, "backend",
                                          backend, "message", msg));
}

static void about_backend(json_t *list, const char *name, const struct probe *p)
{
    if (!p->ever_up) {
        add(list, "info", name,
            "backend '%s' has not answered a probe yet: nothing can be said about its memory "
            "or persistence until it does",
            name);
        return;
    }
    if (p->maxmemory == 0) {
        add(list, "warning", name,
            "backend '%s' has no maxmemory set: it can grow until the kernel's OOM killer ends "
            "it; set maxmemory (for example 70-80%% of the host's RAM, leaving room for the fork "
            "of a save) with a maxmemory-policy that fits the data (noeviction for a store, "
            "allkeys-lru for a cache)",
            name);
    } else if (p->used_memory * 10 > p->maxmemory * 9) {
        add(list, "warning", name,
            "backend '%s' uses %lld%% of its maxmemory (%lld of %lld bytes, policy %s): raise "
            "maxmemory or remove data before writes fail with OOM errors%s",
            name, p->used_memory * 100 / p->maxmemory, p->used_memory, p->maxmemory,
            p->maxmemory_policy[0] ? p->maxmemory_policy : "unknown",
            strcmp(p->maxmemory_policy, "noeviction") == 0 ? "" : " or keys get evicted");
    }
    if (!p->aof_enabled && !p->rdb_save[0]) {
        add(list, "warning", name,
            "backend '%s' has no persistence (appendonly no, save \"\"): redpair recopies it "
            "from the other after a restart, but if both restart together every key is lost; "
            "enable appendonly yes (appendfsync everysec) or an RDB schedule such as "
            "save \"3600 1 300 100 60 10000\"",
            name);
    }
}

/* The first line of a small kernel file, "" when it cannot be read. */
static void read_line(const char *path, char *out, size_t len)
{
    FILE *fp = fopen(path, "r");
    out[0] = '\0';
    if (!fp) return;
    if (!fgets(out, (int)len, fp)) out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    fclose(fp);
}

static void about_host(json_t *list)
{
    char line[128];

    read_line(OVERCOMMIT_PATH, line, sizeof(line));
    if (line[0] && strcmp(line, "1") != 0) {
        add(list, "warning", NULL,
            "vm.overcommit_memory is %s on this host: a background save or AOF rewrite (a fork) "
            "can fail under low memory; set it to 1 with 'sysctl vm.overcommit_memory=1' and "
            "add 'vm.overcommit_memory = 1' to /etc/sysctl.conf",
            line);
    }
    read_line(THP_PATH, line, sizeof(line));
    if (line[0] && !strstr(line, "[never]")) {
        add(list, "warning", NULL,
            "transparent huge pages are enabled on this host (%s): they cause latency spikes "
            "and memory growth in Redis; run 'echo never > %s' and make it persistent (for "
            "example transparent_hugepage=never on the kernel command line)",
            line, THP_PATH);
    }
}

json_t *advice_json(void)
{
    json_t *list = json_array();
    for (int i = 0; i < proxy.config->backend_count; i++)
        about_backend(list, proxy.backends[i].name, monitor_probe(i));
    about_host(list);
    return json_pack("{s:o}", "advice", list);
}
