/* Cluster mode (cluster.h): the Raft node, the control channel between the nodes, and what
 * leading means for the rest of redpair.
 *
 *   every probe-interval-ms ──▶ each peer gets this node's status (control stream, JSON frames):
 *                               its Raft state, term, leader, RESP port, view of the backends,
 *                               and what its log says of the members
 *   every loop turn (check) ──▶ Raft state or leader changed?
 *        became Raft leader   ──▶ takeover entry committed ──▶ failover_takeover(term)
 *        stopped leading      ──▶ failover_depose()       leader changed ──▶ relays closed
 *   leader, every tick      ──▶ members marked joined once they hold the log; a re-added node
 *                               removed and added again; a witness leader hands leadership on
 *
 * libraft 0.15 (Debian 12) predates fixes later upstream releases made after Jepsen's tests,
 * among them committing entries of older terms by counting replicas. redpair does not depend on
 * those corners for the safety of data: every takeover commits an entry of its own term before it
 * acts, and the backends themselves refuse a deposed leader (fence.h). */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buffer.h"
#include "cluster_transport.h"
#include "failover.h"
#include "log.h"
#include "tls.h"
#include "monitor.h"
#include "relay.h"
#include "store.h"

#define FRAME_MAX     (64u * 1024)
#define OUT_QUEUE_MAX (256u * 1024)
#define REDIAL_MS     500

enum phase { PHASE_ASKING, PHASE_RUNNING, PHASE_REFUSED };
enum role { ROLE_FOLLOWER, ROLE_TAKING_OVER, ROLE_LEADING };

/* What a node last said of itself. */
struct status {
    bool witness;
    int port;      /* RESP; 0 for a witness or a node with tls-port only */
    int tls_port;  /* RESP over TLS; 0 when none */
    char host[48]; /* where its clients reach it, when not its peer address ("": that one) */
    char state[16];
    bool bootstrapped;
    uint64_t term, epoch;
    char leader[CONFIG_NAME_MAX];
    int view_count;
    struct {
        char name[CONFIG_NAME_MAX];
        bool up;
    } views[CONFIG_BACKENDS];
    int member_count;
    struct cluster_member members[CLUSTER_MAX_NODES];
};

struct peer {
    const struct endpoint_config *cfg;
    uv_stream_t *out; /* our control stream to it */
    bool dialing;
    uint64_t redial_ms;
    uint64_t heard_ms; /* uv_now() of its latest status, 0 never */
    struct status st;
};

/* A control stream a peer opened to us: its statuses arrive on it. */
struct inbound {
    uv_stream_t *stream;
    struct peer *peer;
    struct buffer in;
    struct inbound *prev, *next;
};

struct proposal {
    struct raft_apply req;
    cluster_done_cb cb;
    void *arg;
    bool takeover;
    char *entry; /* until it is handed to libraft */
    size_t len;
    struct proposal *next; /* queued for the next loop turn */
};

static struct {
    uv_loop_t *loop;
    const struct config *cfg;
    bool on, failed;
    enum phase phase;
    char dir[512];
    unsigned incarnation;
    uint64_t asking_logged_ms;

    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    bool raft_running, raft_closed;
    bool stopping; /* cluster_stop: streams that arrive now are closed */
    struct cluster_state state;

    struct peer peers[CONFIG_MAX_PEERS];
    int peer_count;
    struct inbound *inbound;

    uv_timer_t tick;
    uv_check_t watch;
    uv_idle_t later;
    struct proposal *queued, **queued_tail;
    raft_id transfer_to; /* queued for the next loop turn */

    enum role role;
    uint64_t lead_term, epoch, deposed_term;
    raft_index takeover_index;
    int raft_state;
    char leader[CONFIG_NAME_MAX];
    uint64_t leaderless_since;
    bool proposing; /* a takeover or a membership entry is out */
    bool changing;  /* a configuration change is out */
    bool transferring;
    struct raft_change change;
    struct raft_transfer transfer;
} cl;

static raft_id node_id(const char *name, unsigned incarnation)
{
    raft_id id = raft_digest(name, incarnation);
    return id ? id : 1;
}

static unsigned incarnation_of(const char *name)
{
    const struct cluster_member *m = cluster_state_member(&cl.state, name);
    return m ? m->incarnation : 1;
}

static struct peer *peer_named(const char *name)
{
    for (int i = 0; i < cl.peer_count; i++)
        if (strcmp(cl.peers[i].cfg->name, name) == 0) return &cl.peers[i];
    return NULL;
}

static bool fresh(const struct peer *p)
{
    return p->heard_ms && uv_now(cl.loop) - p->heard_ms <= (uint64_t)cl.cfg->election_timeout_ms;
}

static const char *raft_state_name(int state)
{
    switch (state) {
    case RAFT_FOLLOWER: return "follower";
    case RAFT_CANDIDATE: return "candidate";
    case RAFT_LEADER: return "leader";
    default: return "unavailable";
    }
}

static const char *my_state(void)
{
    if (cl.phase == PHASE_ASKING) return "asking";
    if (cl.phase == PHASE_REFUSED) return "refused";
    return raft_state_name(cl.raft_state);
}

/* --- public face ------------------------------------------------------------------------------ */

bool cluster_enabled(void)
{
    return cl.on;
}

bool cluster_failed(void)
{
    return cl.failed;
}

bool cluster_leading(void)
{
    return cl.role == ROLE_LEADING;
}

uint64_t cluster_epoch(void)
{
    return cl.role == ROLE_LEADING ? cl.epoch : 0;
}

uint64_t cluster_term(void)
{
    return cl.raft_running ? cl.raft.current_term : 0;
}

const struct cluster_state *cluster_state(void)
{
    return &cl.state;
}

int cluster_voters(void)
{
    return cl.peer_count + 1;
}

int cluster_peers_up(void)
{
    int n = 0;
    for (int i = 0; i < cl.peer_count; i++) n += fresh(&cl.peers[i]);
    return n;
}

bool cluster_serves_clients(void)
{
    return cl.role != ROLE_FOLLOWER;
}

const char *cluster_leader_name(void)
{
    return cl.leader[0] ? cl.leader : NULL;
}

uint64_t cluster_leaderless_ms(void)
{
    return cl.leader[0] ? 0 : uv_now(cl.loop) - cl.leaderless_since;
}

bool cluster_leader_address(char *host, size_t hostlen, int *port, bool *tls)
{
    struct peer *p = cl.leader[0] ? peer_named(cl.leader) : NULL;
    if (!p || !p->heard_ms || p->st.witness) return false;
    /* its plain port when it has one; else its tls-port, with this node's own certificate */
    *tls = p->st.port <= 0;
    *port = *tls ? p->st.tls_port : p->st.port;
    if (*port <= 0 || (*tls && !tls_enabled(TLS_NODE))) return false;
    snprintf(host, hostlen, "%s", p->st.host[0] ? p->st.host : p->cfg->host);
    return true;
}

/* The address a follower relays this node's clients to, when its peers cannot use the one they
 * dial for Raft: "" while a client bind address is a wildcard or the cluster address itself,
 * else the first that is not loopback (the cluster port may be on a network of its own). */
static const char *client_host(void)
{
    const char *first = "";
    for (int i = 0; i < cl.cfg->bind_count; i++) {
        const char *b = cl.cfg->bind[i];
        if (!strcmp(b, "0.0.0.0") || !strcmp(b, "::") || !strcmp(b, cl.cfg->cluster_bind))
            return "";
        if (!first[0] && strncmp(b, "127.", 4) && strcmp(b, "::1")) first = b;
    }
    return first;
}

/* This node's own view: the monitor's (SDOWN). */
static bool sees_up(int backend)
{
    return monitor_probe(backend)->up;
}

/* What a node said of a backend: false when it said nothing. */
static bool status_sees(const struct status *st, const char *backend, bool *up)
{
    for (int i = 0; i < st->view_count; i++)
        if (strcmp(st->views[i].name, backend) == 0) {
            *up = st->views[i].up;
            return true;
        }
    return false;
}

int cluster_down_votes(int backend)
{
    if (backend < 0 || backend >= cl.cfg->backend_count) return 0;
    const char *name = cl.cfg->backends[backend].name;
    int votes = sees_up(backend) ? 0 : 1;
    for (int i = 0; i < cl.peer_count; i++) {
        bool up;
        if (fresh(&cl.peers[i]) && status_sees(&cl.peers[i].st, name, &up) && !up) votes++;
    }
    return votes;
}

const char *cluster_node_seeing_both(void)
{
    for (int i = 0; i < cl.peer_count; i++) {
        const struct peer *p = &cl.peers[i];
        if (!fresh(p) || p->st.witness || p->st.port <= 0 || strcmp(p->st.state, "asking") == 0)
            continue;
        int seen = 0;
        for (int b = 0; b < cl.cfg->backend_count; b++) {
            bool up;
            if (status_sees(&p->st, cl.cfg->backends[b].name, &up) && up) seen++;
        }
        if (seen == CONFIG_BACKENDS) return p->cfg->name;
    }
    return NULL;
}

/* --- the state machine ------------------------------------------------------------------------ */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    (void)fsm;
    *result = NULL;
    if (!cluster_state_apply(&cl.state, buf->base, buf->len))
        log_warning("cluster: a log entry this version does not know was passed over: %.*s",
                    (int)(buf->len > 120 ? 120 : buf->len), (const char *)buf->base);
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    (void)fsm;
    size_t len;
    char *text = cluster_state_encode(&cl.state, &len);
    *bufs = raft_malloc(sizeof(**bufs));
    if (!*bufs) abort();
    (*bufs)[0].base = raft_malloc(len);
    if (!(*bufs)[0].base) abort();
    memcpy((*bufs)[0].base, text, len);
    (*bufs)[0].len = len;
    *n = 1;
    free(text);
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    (void)fsm;
    bool ok = cluster_state_decode(&cl.state, buf->base, buf->len);
    raft_free(buf->base);
    return ok ? 0 : RAFT_MALFORMED;
}

/* --- proposals ----------------------------------------------------------------------------------
 *
 * libraft is never called from inside one of its own callbacks (a proposal made as another one
 * fails, while it steps down, would find it half-way): proposals and transfers are queued and
 * handed to it on the next loop turn. */

static void on_applied(struct raft_apply *req, int status, void *result);
static void on_transferred(struct raft_transfer *req);

static void apply_queued(struct proposal *p)
{
    int rv = RAFT_NOTLEADER;
    if (cl.raft_running && raft_state(&cl.raft) == RAFT_LEADER) {
        /* libraft 0.15 lays entries out in 8-byte words and reads them back so: JSON takes the
         * padding as white space. */
        size_t padded = (p->len + 7) & ~(size_t)7;
        struct raft_buffer buf = {.base = raft_malloc(padded), .len = padded};
        if (!buf.base) abort();
        memcpy(buf.base, p->entry, p->len);
        memset((char *)buf.base + p->len, ' ', padded - p->len);
        rv = raft_apply(&cl.raft, &p->req, &buf, 1, on_applied);
        if (rv) raft_free(buf.base);
    }
    free(p->entry);
    p->entry = NULL;
    if (rv == 0) return;
    p->cb(p->arg, false);
    free(p);
}

static void on_later(uv_idle_t *h)
{
    struct proposal *p = cl.queued;
    cl.queued = NULL;
    cl.queued_tail = &cl.queued;
    while (p) { /* what their callbacks propose waits for the next turn */
        struct proposal *next = p->next;
        apply_queued(p);
        p = next;
    }
    if (cl.transfer_to) {
        raft_id to = cl.transfer_to;
        cl.transfer_to = 0;
        int rv = cl.raft_running && raft_state(&cl.raft) == RAFT_LEADER
                     ? raft_transfer(&cl.raft, &cl.transfer, to, on_transferred)
                     : RAFT_NOTLEADER;
        if (rv) {
            cl.transferring = false;
            log_warning("cluster: leadership transfer: %s", raft_strerror(rv));
        }
    }
    if (!cl.queued) uv_idle_stop(h);
}

static void on_applied(struct raft_apply *req, int status, void *result)
{
    struct proposal *p = req->data;
    (void)result;
    if (status == 0 && p->takeover) cl.takeover_index = req->index;
    p->cb(p->arg, status == 0);
    free(p);
}

static void propose(char *entry, size_t len, cluster_done_cb cb, void *arg, bool takeover)
{
    struct proposal *p = xrealloc(NULL, sizeof(*p));
    memset(p, 0, sizeof(*p));
    p->cb = cb;
    p->arg = arg;
    p->takeover = takeover;
    p->req.data = p;
    p->entry = entry;
    p->len = len;
    *cl.queued_tail = p;
    cl.queued_tail = &p->next;
    uv_idle_start(&cl.later, on_later);
}

void cluster_propose(char *entry, size_t len, cluster_done_cb cb, void *arg)
{
    propose(entry, len, cb, arg, false);
}

/* --- leading ------------------------------------------------------------------------------------
 */

static void step_down(const char *why)
{
    enum role was = cl.role;
    cl.role = ROLE_FOLLOWER;
    cl.epoch = 0;
    if (was != ROLE_FOLLOWER) {
        failover_depose(why);
        relay_leader_changed();
    }
}

void cluster_deposed(const char *why)
{
    if (cl.role == ROLE_FOLLOWER) return;
    cl.deposed_term = cl.lead_term;
    step_down(why);
}

static void on_takeover(void *arg, bool ok)
{
    uint64_t term = (uint64_t)(uintptr_t)arg;
    cl.proposing = false;
    if (cl.role != ROLE_TAKING_OVER || cl.lead_term != term) return;
    if (!ok) return; /* still leader? the next tick proposes it again */
    cl.role = ROLE_LEADING;
    cl.epoch = term;
    log_notice("cluster: term %llu: this node leads and takes the backends over",
               (unsigned long long)term);
    store_event(term, "election", cl.cfg->node_id, "'%s' leads under epoch %llu", cl.cfg->node_id,
                (unsigned long long)term);
    failover_takeover(term);
}

static void propose_takeover(void)
{
    if (cl.proposing) return;
    cl.proposing = true;
    size_t len;
    char *entry = cluster_entry_takeover(cl.cfg->node_id, cl.lead_term, &len);
    propose(entry, len, on_takeover, (void *)(uintptr_t)cl.lead_term, true);
}

static void become_leader(void)
{
    cl.role = ROLE_TAKING_OVER;
    cl.lead_term = cl.raft.current_term;
    cl.takeover_index = 0;
    relay_leader_changed(); /* this node's relayed clients reconnect: to it, now */
    propose_takeover();
}

/* Runs every loop turn: cheap comparisons, and the reactions when Raft moved. */
static void on_check(uv_check_t *h)
{
    (void)h;
    if (!cl.raft_running || cl.raft_closed) return;
    int state = raft_state(&cl.raft);
    raft_id id;
    const char *address;
    raft_leader(&cl.raft, &id, &address);
    const char *leader = id && address ? address : "";
    cl.raft_state = state;
    if (strcmp(leader, cl.leader) != 0) {
        if (leader[0]) {
            log_notice("cluster: term %llu: the leader is '%s'",
                       (unsigned long long)cl.raft.current_term, leader);
            store_event(cl.raft.current_term, "election", leader, "'%s' leads term %llu", leader,
                        (unsigned long long)cl.raft.current_term);
        } else {
            log_warning("cluster: term %llu: no leader", (unsigned long long)cl.raft.current_term);
            store_event(cl.raft.current_term, "election", NULL, "no leader (was '%s')", cl.leader);
            cl.leaderless_since = uv_now(cl.loop);
        }
        snprintf(cl.leader, sizeof(cl.leader), "%s", leader);
        if (cl.role == ROLE_FOLLOWER) relay_leader_changed();
    }
    bool leader_here = state == RAFT_LEADER && !cl.cfg->witness;
    if (leader_here && cl.role == ROLE_FOLLOWER && cl.raft.current_term != cl.deposed_term)
        become_leader();
    else if (!leader_here && cl.role != ROLE_FOLLOWER)
        step_down(state == RAFT_LEADER ? "deposed" : "no longer the Raft leader");
    else if (leader_here && cl.role != ROLE_FOLLOWER && cl.raft.current_term != cl.lead_term)
        step_down("a new term began");
}

/* --- membership ------------------------------------------------------------------------------ */

static void on_member_committed(void *arg, bool ok)
{
    (void)arg;
    (void)ok;
    cl.proposing = false;
}

static void on_changed(struct raft_change *req, int status)
{
    (void)req;
    cl.changing = false;
    if (status) log_warning("cluster: membership change failed: %s", raft_strerror(status));
}

static int server_index(raft_id id)
{
    for (unsigned i = 0; i < cl.raft.configuration.n; i++)
        if (cl.raft.configuration.servers[i].id == id) return (int)i;
    return -1;
}

static int server_named(const char *name)
{
    for (unsigned i = 0; i < cl.raft.configuration.n; i++)
        if (strcmp(cl.raft.configuration.servers[i].address, name) == 0) return (int)i;
    return -1;
}

/* The leader keeps the configuration the members' incarnations say: a node re-added under a new
 * incarnation has its old identity removed, its new one added, and made a voter once it runs. */
static void reconcile_members(const char *name, bool runs)
{
    if (cl.changing) return;
    raft_id want = node_id(name, incarnation_of(name));
    int at = server_named(name);
    int rv = 0;
    cl.changing = true;
    if (at >= 0 && cl.raft.configuration.servers[at].id != want)
        rv = raft_remove(&cl.raft, &cl.change, cl.raft.configuration.servers[at].id, on_changed);
    else if (at < 0)
        rv = raft_add(&cl.raft, &cl.change, want, name, on_changed);
    else if (cl.raft.configuration.servers[at].role != RAFT_VOTER && runs)
        rv = raft_assign(&cl.raft, &cl.change, want, RAFT_VOTER, on_changed);
    else
        cl.changing = false;
    if (rv) {
        cl.changing = false;
        log_warning("cluster: membership change for '%s': %s", name, raft_strerror(rv));
    }
}

/* A member holds the log from this leader's takeover on: it has taken part. */
static void mark_joined(const char *name, bool holds)
{
    const struct cluster_member *m = cluster_state_member(&cl.state, name);
    unsigned inc = m ? m->incarnation : 1;
    if ((m && m->joined) || !holds || cl.proposing) return;
    int at = server_index(node_id(name, inc));
    if (at < 0 || cl.raft.configuration.servers[at].role != RAFT_VOTER) return;
    cl.proposing = true;
    size_t len;
    char *entry = cluster_entry_member("joined", name, inc, &len);
    propose(entry, len, on_member_committed, NULL, false);
}

/* A peer that follows this leader in its term has taken its log: a follower learns its leader
 * only from the leader's entries. (libraft's own progress records are not read: Debian's header
 * does not describe the library's leader state faithfully.) */
static bool follows_me(const struct peer *p)
{
    return fresh(p) && p->st.term == cluster_term() && !strcmp(p->st.state, "follower") &&
           !strcmp(p->st.leader, cl.cfg->node_id);
}

static void lead_members(void)
{
    if (cl.role != ROLE_LEADING || !cl.takeover_index) return;
    mark_joined(cl.cfg->node_id, true);
    for (int i = 0; i < cl.peer_count; i++) {
        struct peer *p = &cl.peers[i];
        mark_joined(p->cfg->name, follows_me(p));
        reconcile_members(p->cfg->name, fresh(p) && strcmp(p->st.state, "asking") != 0);
    }
}

static void on_transferred(struct raft_transfer *req)
{
    (void)req;
    cl.transferring = false;
}

bool cluster_transfer(const char *node, char *err, size_t errlen)
{
    if (!cl.raft_running || raft_state(&cl.raft) != RAFT_LEADER) {
        snprintf(err, errlen, "this node does not lead the cluster%s%s",
                 cl.leader[0] ? ": ask " : "", cl.leader);
        return false;
    }
    if (cl.transferring) {
        snprintf(err, errlen, "a leadership transfer is already in progress");
        return false;
    }
    raft_id id = 0;
    if (node) {
        struct peer *p = peer_named(node);
        if (!p) {
            snprintf(err, errlen, "%s '%s'",
                     strcmp(node, cl.cfg->node_id) == 0 ? "this node already leads:"
                                                        : "no peer named",
                     node);
            return false;
        }
        if (p->st.witness) {
            snprintf(err, errlen, "'%s' is a witness: it votes but cannot lead", node);
            return false;
        }
        id = node_id(node, incarnation_of(node));
    } else {
        const char *to = cluster_node_seeing_both();
        for (int i = 0; i < cl.peer_count && !to; i++) /* else any side-car that answers */
            if (fresh(&cl.peers[i]) && !cl.peers[i].st.witness) to = cl.peers[i].cfg->name;
        if (!to) {
            snprintf(err, errlen, "no other side-car is there to lead");
            return false;
        }
        id = node_id(to, incarnation_of(to));
    }
    if (server_index(id) < 0) {
        snprintf(err, errlen, "'%s' is not in the cluster's configuration", node ? node : "");
        return false;
    }
    cl.transfer_to = id;
    uv_idle_start(&cl.later, on_later);
    cl.transferring = true;
    log_notice("cluster: handing leadership to '%s'", node ? node : "another voter");
    return true;
}

bool cluster_readd(const char *node, char *err, size_t errlen)
{
    if (cl.role != ROLE_LEADING) {
        snprintf(err, errlen, "this node does not lead the cluster%s%s",
                 cl.leader[0] ? ": ask " : "", cl.leader);
        return false;
    }
    if (!peer_named(node)) {
        snprintf(err, errlen, "no peer named '%s' (a node re-adds the others)", node);
        return false;
    }
    unsigned next = incarnation_of(node) + 1;
    size_t len;
    char *entry = cluster_entry_member("readd", node, next, &len);
    cluster_propose(entry, len, on_member_committed, NULL);
    log_notice("cluster: re-adding '%s' as incarnation %u", node, next);
    store_event(cl.epoch, "member", node, "re-added as incarnation %u", next);
    return true;
}

/* A witness never sequences: elected, it hands leadership to a data node at once. */
static void witness_hands_on(void)
{
    if (!cl.cfg->witness || cl.raft_state != RAFT_LEADER || cl.transferring) return;
    const char *to = cluster_node_seeing_both();
    for (int i = 0; i < cl.peer_count && !to; i++)
        if (fresh(&cl.peers[i]) && !cl.peers[i].st.witness) to = cl.peers[i].cfg->name;
    char err[160];
    if (to && !cluster_transfer(to, err, sizeof(err))) log_verbose("cluster: %s", err);
}

/* --- control streams ------------------------------------------------------------------------- */

static void free_stream(uv_handle_t *h)
{
    raft_free(h);
}

static void close_stream(uv_stream_t *s)
{
    if (s && !uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, free_stream);
}

static void parse_status(struct status *st, json_t *o)
{
    memset(st, 0, sizeof(*st));
    st->witness = json_is_true(json_object_get(o, "witness"));
    st->port = (int)json_integer_value(json_object_get(o, "port"));
    st->tls_port = (int)json_integer_value(json_object_get(o, "tls_port"));
    const char *host = json_string_value(json_object_get(o, "host"));
    snprintf(st->host, sizeof(st->host), "%s", host ? host : "");
    st->bootstrapped = json_is_true(json_object_get(o, "bootstrapped"));
    st->term = (uint64_t)json_integer_value(json_object_get(o, "term"));
    st->epoch = (uint64_t)json_integer_value(json_object_get(o, "epoch"));
    const char *s = json_string_value(json_object_get(o, "state"));
    snprintf(st->state, sizeof(st->state), "%s", s ? s : "");
    s = json_string_value(json_object_get(o, "leader"));
    snprintf(st->leader, sizeof(st->leader), "%s", s ? s : "");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, "backends"), i, v)
    {
        if (st->view_count == CONFIG_BACKENDS) break;
        s = json_string_value(json_object_get(v, "name"));
        snprintf(st->views[st->view_count].name, CONFIG_NAME_MAX, "%s", s ? s : "");
        st->views[st->view_count++].up = json_is_true(json_object_get(v, "up"));
    }
    json_array_foreach(json_object_get(o, "members"), i, v)
    {
        if (st->member_count == CLUSTER_MAX_NODES) break;
        struct cluster_member *m = &st->members[st->member_count++];
        s = json_string_value(json_object_get(v, "name"));
        snprintf(m->name, sizeof(m->name), "%s", s ? s : "");
        json_int_t inc = json_integer_value(json_object_get(v, "incarnation"));
        m->incarnation = inc > 0 ? (unsigned)inc : 1;
        m->joined = json_is_true(json_object_get(v, "joined"));
    }
}

static void inbound_close(struct inbound *in)
{
    if (in->prev)
        in->prev->next = in->next;
    else
        cl.inbound = in->next;
    if (in->next) in->next->prev = in->prev;
    close_stream(in->stream);
    buffer_free(&in->in);
    free(in);
}

static void inbound_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct inbound *in = h->data;
    (void)hint;
    *buf = uv_buf_init(buffer_reserve(&in->in, 16384), 16384);
}

static void inbound_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct inbound *in = s->data;
    (void)buf;
    if (nread < 0) {
        inbound_close(in);
        return;
    }
    buffer_commit(&in->in, (size_t)nread);
    while (buffer_len(&in->in) >= 4) {
        const unsigned char *p = (const unsigned char *)buffer_head(&in->in);
        size_t len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (len > FRAME_MAX) {
            log_warning("cluster: '%s' sent a control frame of %zu bytes: closing",
                        in->peer->cfg->name, len);
            inbound_close(in);
            return;
        }
        if (buffer_len(&in->in) < 4 + len) break;
        json_t *o = json_loadb((const char *)p + 4, len, 0, NULL);
        if (json_is_object(o)) {
            parse_status(&in->peer->st, o);
            in->peer->heard_ms = uv_now(cl.loop);
        }
        json_decref(o);
        buffer_consume(&in->in, 4 + len);
    }
}

static void on_control(void *arg, const char *name, uv_stream_t *stream)
{
    (void)arg;
    struct peer *p = peer_named(name);
    if (!p || cl.stopping) {
        close_stream(stream);
        return;
    }
    struct inbound *in = xrealloc(NULL, sizeof(*in));
    memset(in, 0, sizeof(*in));
    in->stream = stream;
    in->peer = p;
    in->next = cl.inbound;
    if (cl.inbound) cl.inbound->prev = in;
    cl.inbound = in;
    stream->data = in;
    uv_read_start(stream, inbound_alloc, inbound_read);
}

/* Our stream to a peer carries nothing back: reading it only tells when it closes. */
static void out_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char sink[64];
    (void)h;
    (void)hint;
    *buf = uv_buf_init(sink, sizeof(sink));
}

static void drop_out(struct peer *p)
{
    close_stream(p->out);
    p->out = NULL;
    p->redial_ms = uv_now(cl.loop) + REDIAL_MS;
}

static void out_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0) drop_out(s->data);
}

static void on_dialed(void *arg, const char *name, uv_stream_t *stream)
{
    struct peer *p = arg;
    (void)name;
    p->dialing = false;
    if (!stream) {
        p->redial_ms = uv_now(cl.loop) + REDIAL_MS;
        return;
    }
    if (cl.stopping) {
        close_stream(stream);
        return;
    }
    p->out = stream;
    stream->data = p;
    uv_read_start(stream, out_alloc, out_read);
}

struct frame {
    uv_write_t req;
    char data[];
};

static void on_frame_written(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
}

static json_t *my_status(void)
{
    json_t *views = json_array(), *members = json_array();
    for (int i = 0; i < cl.cfg->backend_count; i++)
        json_array_append_new(
            views, json_pack("{s:s, s:b}", "name", cl.cfg->backends[i].name, "up", sees_up(i)));
    for (int i = 0; i < cl.state.member_count; i++) {
        const struct cluster_member *m = &cl.state.members[i];
        json_array_append_new(members, json_pack("{s:s, s:I, s:b}", "name", m->name, "incarnation",
                                                 (json_int_t)m->incarnation, "joined", m->joined));
    }
    return json_pack(
        "{s:s, s:b, s:i, s:i, s:s, s:s, s:b, s:I, s:I, s:s, s:o, s:o}", "node", cl.cfg->node_id,
        "witness", cl.cfg->witness, "port", cl.cfg->witness ? 0 : cl.cfg->port, "tls_port",
        cl.cfg->witness ? 0 : cl.cfg->tls_port, "host", client_host(), "state", my_state(),
        "bootstrapped", cl.phase == PHASE_RUNNING, "term", (json_int_t)cluster_term(), "epoch",
        (json_int_t)cl.state.epoch, "leader", cl.leader, "backends", views, "members", members);
}

static void send_status(void)
{
    json_t *o = my_status();
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text) return;
    size_t len = strlen(text);
    uint64_t now = uv_now(cl.loop);
    for (int i = 0; i < cl.peer_count; i++) {
        struct peer *p = &cl.peers[i];
        if (!p->out) {
            if (!p->dialing && now >= p->redial_ms) {
                p->dialing = true;
                cluster_transport_dial(&cl.transport, p->cfg->name, on_dialed, p);
            }
            continue;
        }
        if (uv_stream_get_write_queue_size(p->out) > OUT_QUEUE_MAX) { /* it stopped reading */
            drop_out(p);
            continue;
        }
        struct frame *f = xrealloc(NULL, sizeof(*f) + 4 + len);
        f->data[0] = (char)(len >> 24);
        f->data[1] = (char)(len >> 16);
        f->data[2] = (char)(len >> 8);
        f->data[3] = (char)len;
        memcpy(f->data + 4, text, len);
        f->req.data = f;
        uv_buf_t buf = uv_buf_init(f->data, (unsigned)(4 + len));
        if (uv_write(&f->req, p->out, &buf, 1, on_frame_written)) {
            free(f);
            drop_out(p);
        }
    }
    free(text);
}

/* --- starting Raft ------------------------------------------------------------------------------
 */

static bool path_exists(const char *name)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", cl.dir, name);
    return access(path, F_OK) == 0;
}

static bool write_identity(char *err, size_t errlen)
{
    char path[600], tmp[610];
    snprintf(path, sizeof(path), "%s/identity", cl.dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    bool ok = fp && fprintf(fp, "node %s\nincarnation %u\n", cl.cfg->node_id, cl.incarnation) > 0;
    if (fp) ok = fflush(fp) == 0 && fsync(fileno(fp)) == 0 && ok;
    if (fp) fclose(fp);
    ok = ok && rename(tmp, path) == 0;
    if (!ok) snprintf(err, errlen, "cannot write %.400s: %s", path, strerror(errno));
    return ok;
}

static bool read_identity(char *err, size_t errlen)
{
    char path[600], name[CONFIG_NAME_MAX + 1] = "";
    snprintf(path, sizeof(path), "%s/identity", cl.dir);
    FILE *fp = fopen(path, "r");
    unsigned inc = 0;
    int n = fp ? fscanf(fp, "node %32s incarnation %u", name, &inc) : 0;
    if (fp) fclose(fp);
    if (n != 2 || inc == 0) {
        snprintf(err, errlen,
                 "%s holds consensus state but no readable identity file (%s): it is not this "
                 "node's; move it away and re-add the node",
                 cl.dir, path);
        return false;
    }
    if (strcmp(name, cl.cfg->node_id) != 0) {
        snprintf(err, errlen, "%s belongs to node '%s', not to this node '%s' (node-id)", cl.dir,
                 name, cl.cfg->node_id);
        return false;
    }
    cl.incarnation = inc;
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The membership every node bootstraps with: the same servers, ids and order everywhere. */
static bool initial_configuration(struct raft_configuration *conf)
{
    const char *names[CLUSTER_MAX_NODES];
    int n = 0;
    names[n++] = cl.cfg->node_id;
    for (int i = 0; i < cl.peer_count; i++) names[n++] = cl.peers[i].cfg->name;
    qsort(names, (size_t)n, sizeof(names[0]), by_name);
    raft_configuration_init(conf);
    for (int i = 0; i < n; i++)
        if (raft_configuration_add(conf, node_id(names[i], 1), names[i], RAFT_VOTER)) return false;
    return true;
}

static bool start_raft(bool bootstrap, char *err, size_t errlen)
{
    int rv = raft_uv_init(&cl.io, cl.loop, cl.dir, &cl.transport);
    if (rv) {
        snprintf(err, errlen, "cluster-dir %s: %s", cl.dir, cl.io.errmsg);
        return false;
    }
    /* libraft's default segment size: 0.15 crashes at start-up on segments of another size. */
    unsigned e = (unsigned)cl.cfg->election_timeout_ms;
    raft_uv_set_connect_retry_delay(&cl.io, e / 4 > 50 ? e / 4 : 50);
    cl.fsm = (struct raft_fsm){
        .version = 1, .apply = fsm_apply, .snapshot = fsm_snapshot, .restore = fsm_restore};
    rv = raft_init(&cl.raft, &cl.io, &cl.fsm, node_id(cl.cfg->node_id, cl.incarnation),
                   cl.cfg->node_id);
    if (rv) {
        snprintf(err, errlen, "raft_init: %s", raft_errmsg(&cl.raft));
        return false;
    }
    /* libraft waits between 1x and 2x its timeout: half of ours, so a follower stands for
     * election within cluster-election-timeout-ms, and a leader that has not heard from a
     * majority for that half steps down. A witness waits as long: elected, it hands leadership
     * on at once (a longer wait would have it refuse the others' pre-votes for longer). */
    raft_set_election_timeout(&cl.raft, e / 2);
    raft_set_heartbeat_timeout(&cl.raft, e / 10 > 10 ? e / 10 : 10);
    raft_set_pre_vote(&cl.raft, true);
    if (bootstrap) {
        struct raft_configuration conf;
        bool ok = initial_configuration(&conf);
        rv = ok ? raft_bootstrap(&cl.raft, &conf) : RAFT_NOMEM;
        raft_configuration_close(&conf);
        if (rv && rv != RAFT_CANTBOOTSTRAP) {
            snprintf(err, errlen, "raft_bootstrap: %s", raft_errmsg(&cl.raft));
            return false;
        }
    }
    rv = raft_start(&cl.raft);
    if (rv) {
        snprintf(err, errlen, "raft_start: %s", raft_errmsg(&cl.raft));
        return false;
    }
    cl.raft_running = true;
    cl.phase = PHASE_RUNNING;
    return true;
}

static void refuse(const char *fmt, const char *a, const char *b)
{
    char why[1200];
    snprintf(why, sizeof(why), fmt, a, b);
    log_warning("cluster: %s", why);
    cl.phase = PHASE_REFUSED;
    cl.failed = true;
    uv_stop(cl.loop);
}

/* An empty cluster-dir: what the peers say decides between bootstrapping, joining, refusing. */
static void decide_fresh(void)
{
    int answered = 0, need = cluster_voters() / 2; /* with this node, a majority */
    bool cluster_exists = false, joined = false;
    unsigned inc = 1;
    char exists_at[CONFIG_NAME_MAX] = "";
    for (int i = 0; i < cl.peer_count; i++) {
        const struct peer *p = &cl.peers[i];
        if (!fresh(p)) continue;
        answered++;
        if (!p->st.bootstrapped) continue;
        cluster_exists = true;
        snprintf(exists_at, sizeof(exists_at), "%s", p->cfg->name);
        for (int j = 0; j < p->st.member_count; j++) {
            const struct cluster_member *m = &p->st.members[j];
            if (strcmp(m->name, cl.cfg->node_id) != 0) continue;
            if (m->incarnation > inc) {
                inc = m->incarnation;
                joined = m->joined;
            } else if (m->incarnation == inc) {
                joined |= m->joined;
            }
        }
    }
    uint64_t now = uv_now(cl.loop);
    if (answered < need) {
        if (now - cl.asking_logged_ms >= 5000) {
            cl.asking_logged_ms = now;
            log_notice("cluster: %s is empty: waiting for %d of the other nodes to answer before "
                       "creating consensus state",
                       cl.dir, need);
        }
        return;
    }
    if (joined) {
        refuse("this node took part in the cluster before, but its consensus state in cluster-dir "
               "is gone (peer '%s' knows it). It will not bootstrap a second cluster: re-add it "
               "on the leader (POST /api/v1/cluster/nodes/%s/readd), then start it again",
               exists_at, cl.cfg->node_id);
        return;
    }
    cl.incarnation = inc;
    char err[CONFIG_ERROR_MAX];
    if (!write_identity(err, sizeof(err))) {
        refuse("%s%s", err, "");
        return;
    }
    bool bootstrap = inc == 1;
    log_notice("cluster: %s as incarnation %u",
               !cluster_exists ? "bootstrapping a new cluster"
               : bootstrap     ? "joining the cluster"
                               : "joining again, re-added,",
               inc);
    if (!start_raft(bootstrap, err, sizeof(err))) refuse("%s%s", err, "");
}

/* --- the tick --------------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    (void)t;
    if (cl.phase == PHASE_ASKING) decide_fresh();
    send_status();
    if (cl.phase != PHASE_RUNNING) return;
    if (cl.role == ROLE_TAKING_OVER && cl.raft_state == RAFT_LEADER) propose_takeover();
    if (cl.raft_state == RAFT_LEADER) {
        witness_hands_on();
        lead_members();
    }
}

bool cluster_start(uv_loop_t *loop, const struct config *cfg, char *err, size_t errlen)
{
    if (!config_clustered(cfg)) return true;
    memset(&cl, 0, sizeof(cl));
    cl.queued_tail = &cl.queued;
    cl.loop = loop;
    cl.cfg = cfg;
    cl.on = true;
    cl.leaderless_since = uv_now(loop);
    cl.peer_count = cfg->peer_count;
    for (int i = 0; i < cfg->peer_count; i++) cl.peers[i].cfg = &cfg->peers[i];
    cluster_state_init(&cl.state);
    if (cfg->cluster_dir)
        snprintf(cl.dir, sizeof(cl.dir), "%s", cfg->cluster_dir);
    else
        snprintf(cl.dir, sizeof(cl.dir), "%s/raft", cfg->state_dir);
    uv_timer_init(loop, &cl.tick);
    uv_check_init(loop, &cl.watch);
    uv_idle_init(loop, &cl.later);
    if (mkdir(cl.dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create cluster-dir %s: %s", cl.dir, strerror(errno));
        return false;
    }
    if (!cluster_transport_init(&cl.transport, loop, cfg, on_control, NULL, err, errlen))
        return false;
    uv_check_start(&cl.watch, on_check);
    uint64_t every = (uint64_t)cfg->probe_interval_ms;
    uv_timer_start(&cl.tick, on_tick, every, every);

    bool intact = path_exists("metadata1") || path_exists("metadata2");
    if (!intact) {
        cl.phase = PHASE_ASKING; /* the tick asks the peers */
        log_notice("cluster: node '%s' of %d; %s holds no consensus state yet", cfg->node_id,
                   cluster_voters(), cl.dir);
        return true;
    }
    if (!read_identity(err, errlen)) return false;
    log_notice("cluster: node '%s' (incarnation %u) of %d rejoins with its consensus state",
               cfg->node_id, cl.incarnation, cluster_voters());
    return start_raft(false, err, errlen);
}

static void on_raft_closed(struct raft *r)
{
    (void)r;
    cl.raft_closed = true;
}

static void on_transport_closed(struct raft_uv_transport *t)
{
    (void)t;
    cl.raft_closed = true;
}

void cluster_stop(void)
{
    if (!cl.on) return;
    cl.stopping = true;
    step_down("shutting down");
    uv_close((uv_handle_t *)&cl.tick, NULL);
    uv_close((uv_handle_t *)&cl.watch, NULL);
    while (cl.inbound) inbound_close(cl.inbound);
    for (int i = 0; i < cl.peer_count; i++) {
        close_stream(cl.peers[i].out);
        cl.peers[i].out = NULL;
    }
    cl.raft_closed = !cl.raft_running && !cl.transport.impl; /* it never got that far */
    if (cl.raft_running)
        raft_close(&cl.raft, on_raft_closed);
    else if (cl.transport.impl)
        cluster_transport_close(&cl.transport, on_transport_closed);
    while (!cl.raft_closed) uv_run(cl.loop, UV_RUN_ONCE);
    if (cl.raft_running) raft_uv_close(&cl.io);
    cl.raft_running = false; /* what is still queued fails */
    on_later(&cl.later);
    uv_close((uv_handle_t *)&cl.later, NULL);
    uv_run(cl.loop, UV_RUN_NOWAIT);
    cl.on = false;
}

/* --- describing it ---------------------------------------------------------------------------- */

/* A node's view of each backend it probes, "up" or "down"; of this one's backends that a peer
 * did not report, null. st NULL: this node's own. */
static json_t *views_of(const struct status *st)
{
    json_t *o = json_object();
    for (int i = 0; i < cl.cfg->backend_count; i++) {
        const char *name = cl.cfg->backends[i].name;
        bool up = st ? false : sees_up(i);
        bool known = st ? status_sees(st, name, &up) : true;
        json_object_set_new(o, name, known ? json_string(up ? "up" : "down") : json_null());
    }
    for (int i = 0; st && i < st->view_count; i++) /* a witness without backends shows them */
        if (!json_object_get(o, st->views[i].name))
            json_object_set_new(o, st->views[i].name, json_string(st->views[i].up ? "up" : "down"));
    return o;
}

static json_t *role_in_raft(const char *name)
{
    int at = cl.raft_running ? server_named(name) : -1;
    if (at < 0) return json_null();
    int role = cl.raft.configuration.servers[at].role;
    return json_string(role == RAFT_VOTER ? "voter" : role == RAFT_STANDBY ? "standby" : "spare");
}

json_t *cluster_describe(void)
{
    json_t *nodes = json_array();
    json_array_append_new(
        nodes, json_pack("{s:s, s:b, s:b, s:s, s:I, s:o, s:i, s:o, s:o}", "name", cl.cfg->node_id,
                         "self", 1, "witness", cl.cfg->witness, "state", my_state(), "term",
                         (json_int_t)cluster_term(), "last_contact_ms", json_integer(0), "port",
                         cl.cfg->witness ? 0 : cl.cfg->port, "backends", views_of(NULL),
                         "raft_role", role_in_raft(cl.cfg->node_id)));
    uint64_t now = uv_now(cl.loop);
    for (int i = 0; i < cl.peer_count; i++) {
        const struct peer *p = &cl.peers[i];
        json_t *contact = p->heard_ms ? json_integer((json_int_t)(now - p->heard_ms)) : json_null();
        json_array_append_new(nodes,
                              json_pack("{s:s, s:b, s:b, s:s, s:I, s:o, s:b, s:i, s:o, s:o}",
                                        "name", p->cfg->name, "self", 0, "witness", p->st.witness,
                                        "state", p->heard_ms ? p->st.state : "unknown", "term",
                                        (json_int_t)p->st.term, "last_contact_ms", contact,
                                        "reachable", fresh(p), "port", p->st.port, "backends",
                                        views_of(&p->st), "raft_role", role_in_raft(p->cfg->name)));
    }
    return json_pack(
        "{s:s, s:s, s:o, s:I, s:I, s:b, s:i, s:i, s:s, s:I, s:o}", "node", cl.cfg->node_id, "state",
        my_state(), "leader", cl.leader[0] ? json_string(cl.leader) : json_null(), "term",
        (json_int_t)cluster_term(), "epoch", (json_int_t)cl.state.epoch, "leading",
        cluster_leading(), "voters", cluster_voters(), "incarnation", (int)cl.incarnation,
        "primary", cl.state.primary, "failovers", (json_int_t)cl.state.failovers, "nodes", nodes);
}
