#include "sequencer.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backlog.h"
#include "cluster.h"
#include "config.h"
#include "failover.h"
#include "holdq.h"
#include "log.h"
#include "proxy.h"
#include "request.h"
#include "rewrite.h"

/* The backlog takes each write as a non-primary applies it, so effect writes wait here too. */
static struct holdq backlog_holds;

static void backlog_released(void *ctx, struct request *req, uint64_t offset, int db,
                             const char *bytes, size_t len)
{
    (void)ctx;
    (void)req;
    if (len) backlog_append(offset, db, bytes, len);
}

bool sequencer_settled(void)
{
    return !holdq_busy(&backlog_holds);
}

static void release_effect(struct request *r, const char *reply, size_t len, const char *probe,
                           size_t probe_len);
static void maybe_answer(struct request *r);

/* The probe's reply came (or its loss): the effect is known. */
static void probed(struct request *p)
{
    struct request *r = p->owner;
    if (r->probing) {
        r->probing = false;
        bool replied = r->reply_from == r->primary;
        release_effect(r, replied ? buffer_head(&r->reply) : NULL,
                       replied ? buffer_len(&r->reply) : 0, buffer_head(&p->reply),
                       buffer_len(&p->reply));
        maybe_answer(r); /* with nothing to apply elsewhere, nothing else will */
    }
    request_unref(r);
    request_unref(p);
}

/* The read that tells the effect goes right after the write, in the primary's same transaction:
 * nothing comes between the two, and their replies come together. */
static void send_probe(struct request *r, int db, const struct buffer *probe)
{
    struct backend *b = &proxy.backends[proxy.primary];
    struct request *p = request_new(NULL, NULL);
    p->unit = p->uncounted = true;
    p->done = probed;
    p->owner = r;
    request_ref(r);
    r->probing = true;
    backend_send(b, p, db, buffer_head(probe), buffer_len(probe));
    if (!r->unit) backend_unit_end(b);
}

void sequencer_write(struct request *r, int db, const char *bytes, size_t len)
{
    if (proxy.primary < 0) {
        request_error(r, "ERR redpair has no backend in sync to write to");
        return;
    }
    r->offset = ++proxy.stream_offset;
    r->primary = (int8_t)proxy.primary;
    bool by_effect = r->by_effect;
    if (by_effect) {
        buffer_append(&r->effect, bytes, len);
        holdq_push(&backlog_holds, r, r->offset, db, NULL, 0);
    } else if (holdq_busy(&backlog_holds)) {
        holdq_push(&backlog_holds, r, r->offset, db, bytes, len);
    } else {
        backlog_append(r->offset, db, bytes, len);
    }

    for (int i = 0; i < CONFIG_BACKENDS; i++) {
        struct backend *b = &proxy.backends[i];
        if (!backend_in_stream(b)) continue;
        /* A backend catching up is written to but not waited for: it is not in sync yet. */
        if (b->state == BACKEND_IN_SYNC) r->awaiting |= (uint8_t)(1u << i);
        if (by_effect && i != proxy.primary) {
            r->holding |= (uint8_t)(1u << i);
            backend_hold(b, r, db);
        } else {
            backend_send(b, r, db, bytes, len);
        }
    }
    struct buffer probe = {0};
    if (by_effect && rewrite_probe(r->cmd, bytes, len, &probe)) send_probe(r, db, &probe);
    buffer_free(&probe);
}

/* Shows a reply in a log line: printable, one line, bounded. */
static void reply_repr(const char *p, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < outlen; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 32 && ch < 127 && ch != '\\') {
            out[o++] = (char)ch;
        } else {
            static const char hex[] = "0123456789abcdef";
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

static bool same_bytes(const struct buffer *told, const char *reply, size_t len)
{
    return buffer_len(told) == len && memcmp(buffer_head(told), reply, len) == 0;
}

/* Two errors changed nothing on either server (their words may differ between versions).
 * Otherwise replies that differ say one applied what the other did not, or the two already
 * held different data. */
static bool same_outcome(const struct buffer *told, const char *reply, size_t len)
{
    return (buffer_head(told)[0] == '-' && reply[0] == '-') || same_bytes(told, reply, len);
}

static void compare(struct request *r, int other, const char *reply, size_t len)
{
    if (r->by_effect) return; /* the other backend ran a different command */
    if (same_bytes(&r->reply, reply, len)) return;

    proxy.divergences++;
    char mine[96], theirs[96];
    reply_repr(buffer_head(&r->reply), buffer_len(&r->reply), mine, sizeof(mine));
    reply_repr(reply, len, theirs, sizeof(theirs));
    log_warning("divergence at offset %llu on '%s': %s replied %s, %s replied %s",
                (unsigned long long)r->offset, r->cmd->name, proxy_backend_name(r->reply_from),
                mine, proxy_backend_name(other), theirs);
    /* The primary's data is the truth. */
    if (!same_outcome(&r->reply, reply, len) && other != r->primary)
        failover_diverged(&proxy.backends[other]);
}

/* The others' copies of an effect write wait for this: what the primary actually did. */
static void release_effect(struct request *r, const char *reply, size_t len, const char *probe,
                           size_t probe_len)
{
    struct buffer effect = {0};
    bool any = reply && rewrite_effect(r->cmd, buffer_head(&r->effect), buffer_len(&r->effect),
                                       reply, len, probe, probe_len, &effect);
    size_t n = any ? buffer_len(&effect) : 0;
    holdq_resolve(&backlog_holds, r, buffer_head(&effect), n, backlog_released, NULL);
    for (int i = 0; i < CONFIG_BACKENDS; i++) {
        if (!(r->holding & (1u << i))) continue;
        r->holding &= (uint8_t) ~(1u << i);
        struct backend *b = &proxy.backends[i];
        if (!any) {
            r->awaiting &= (uint8_t) ~(1u << i);
            if (r->offset > b->acked_offset) b->acked_offset = r->offset; /* nothing to apply */
        }
        backend_resolve(b, r, buffer_head(&effect), n);
    }
    buffer_free(&effect);
}

static struct request **held;
static size_t held_len, held_cap;

static void hold_ack(struct request *r)
{
    if (held_len == held_cap) {
        held_cap = held_cap ? held_cap * 2 : 64;
        held = xrealloc(held, held_cap * sizeof(*held));
    }
    r->ack_held = true;
    request_ref(r);
    held[held_len++] = r;
}

static void maybe_answer(struct request *r);

void sequencer_release_acks(void)
{
    /* Answering may hold again (another loss meanwhile): take the list as it is now. */
    struct request **list = held;
    size_t n = held_len;
    held = NULL;
    held_len = held_cap = 0;
    for (size_t i = 0; i < n; i++) {
        list[i]->ack_held = list[i]->lost_in_sync = false;
        maybe_answer(list[i]);
        request_unref(list[i]);
    }
    free(list);
}

void sequencer_drop_acks(void)
{
    for (size_t i = 0; i < held_len; i++) request_unref(held[i]);
    held_len = 0;
}

static void maybe_answer(struct request *r)
{
    if (r->ready || r->ack_held) return;
    bool primary_done = !(r->awaiting & (1u << r->primary));
    bool answer = proxy.config->write_ack == WRITE_ACK_PRIMARY ? primary_done : r->awaiting == 0;
    if (!answer) return;
    if (r->reply_from < 0 && r->other_from >= 0) {
        /* The primary never answered; the write did land on this backend. */
        struct buffer swap = r->reply;
        r->reply = r->other;
        r->other = swap;
        r->reply_from = r->other_from;
    }
    if (r->reply_from < 0 && r->awaiting != 0) return; /* the other one may still answer */
    if (r->reply_from < 0) {
        request_error(r, "ERR redpair lost every backend before the write was acknowledged");
        return;
    }
    if (r->lost_in_sync || failover_acks_held()) {
        hold_ack(r);
        return;
    }
    request_ready(r);
}

void sequencer_reply(struct request *r, int backend, const char *reply, size_t len)
{
    r->awaiting &= (uint8_t) ~(1u << backend);

    if (backend == r->primary) {
        buffer_append(&r->reply, reply, len);
        r->reply_from = (int8_t)backend;
        if (r->by_effect && !r->probing) release_effect(r, reply, len, NULL, 0);
        if (r->other_from >= 0)
            compare(r, r->other_from, buffer_head(&r->other), buffer_len(&r->other));
    } else if (r->reply_from >= 0) {
        compare(r, backend, reply, len);
    } else {
        buffer_append(&r->other, reply, len);
        r->other_from = (int8_t)backend;
    }
    maybe_answer(r);
}

bool sequencer_agrees(const struct request *r, const char *reply, size_t len)
{
    if (r->by_effect) return reply[0] != '-'; /* it ran another command: only a refusal tells */
    const struct buffer *told = r->reply_from >= 0   ? &r->reply
                                : r->other_from >= 0 ? &r->other
                                                     : NULL;
    return told && buffer_len(told) && same_outcome(told, reply, len);
}

void sequencer_lost(struct request *r, int backend)
{
    if (r->awaiting & (1u << backend) && cluster_enabled()) r->lost_in_sync = true;
    r->awaiting &= (uint8_t) ~(1u << backend);
    r->holding &= (uint8_t) ~(1u << backend);
    if (backend == r->primary && r->by_effect) {
        r->probing = false; /* the probe, after it on the same link, is lost too */
        release_effect(r, NULL, 0, NULL, 0);
    }
    maybe_answer(r);
}
