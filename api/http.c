#include "http.h"

#include <jansson.h>
#include <llhttp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buffer.h"
#include "log.h"
#include "netaddr.h"
#include "outbuf.h"

#define READ_CHUNK (16 * 1024)
#define OUT_PAUSE  (1u << 20) /* stop reading while a client leaves this much unread */
#define LINGER_MS  2000       /* after the last response, drain what the client still sends */
#define LINGER_MAX (4u << 20)

enum header { HEADER_OTHER, HEADER_AUTHORIZATION, HEADER_EXPECT };

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    int open_handles; /* freed when both handles closed and no handler holds the request */

    llhttp_t parser;
    struct buffer in;
    struct outbuf out;

    struct http_request req;
    struct buffer url, field, value, auth, body;
    enum header header;
    size_t header_bytes;
    int error_status; /* a limit the request broke (413, 414, 431), 0 if none */
    bool has_auth, expect_continue, http10;

    bool in_message; /* bytes of a request arrived, not yet all of it */
    bool busy;       /* the handler holds the request */
    bool keep_alive;
    bool eof;      /* the client shut its side */
    bool closing;  /* the last response is queued: shut down, drain, close */
    bool shutting; /* uv_shutdown issued */
    bool closed;   /* uv_close issued */
    bool reading;
    bool processing;
    size_t discarded;

    struct http_conn *prev, *next;
};

static struct {
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listening;
    http_handler handler;
    llhttp_settings_t settings;
    struct http_conn *conns;
    int active;
} server;

static void process(struct http_conn *c);
static void update(struct http_conn *c);
static void send_error(struct http_conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    }
    return "Unknown";
}

/* ---------------------------------------------------------------------------------------------
 * Connection life.
 * ------------------------------------------------------------------------------------------- */

static void conn_free(struct http_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        server.conns = c->next;
    if (c->next) c->next->prev = c->prev;
    buffer_free(&c->in);
    outbuf_free(&c->out);
    buffer_free(&c->url);
    buffer_free(&c->field);
    buffer_free(&c->value);
    buffer_free(&c->auth);
    buffer_free(&c->body);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    if (--c->open_handles == 0 && !c->busy) conn_free(c);
}

static void conn_close(struct http_conn *c)
{
    if (c->closed) return;
    c->closed = true;
    server.active--;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct http_conn *c = req->data;
    if (status < 0 || c->eof) conn_close(c);
}

/* Once the last response is out: FIN, then read and drop what the client still sends until it
 * closes or LINGER_MS pass, so that closing never resets a response the client has not read. */
static void maybe_shutdown(struct http_conn *c)
{
    if (!c->closing || c->shutting || c->closed || outbuf_len(&c->out)) return;
    c->shutting = true;
    c->shutdown.data = c;
    if (c->out.tls) tls_close_notify(c->out.tls);
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) conn_close(c);
}

static void on_written(uv_write_t *w, int status)
{
    struct http_conn *c = w->handle->data;
    if (outbuf_written(&c->out, status) < 0 || c->closed) {
        conn_close(c);
        return;
    }
    if (outbuf_flush(&c->out, (uv_stream_t *)&c->tcp, on_written) < 0) {
        conn_close(c);
        return;
    }
    maybe_shutdown(c);
    process(c); /* input paused while the output was large */
}

static void flush(struct http_conn *c)
{
    if (outbuf_flush(&c->out, (uv_stream_t *)&c->tcp, on_written) < 0) {
        conn_close(c);
        return;
    }
    maybe_shutdown(c);
}

static void begin_close(struct http_conn *c)
{
    c->closing = true;
    uv_timer_stop(&c->timer);
    maybe_shutdown(c);
    update(c);
}

static void on_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    if (c->closing || !c->in_message) {
        conn_close(c); /* lingered long enough, or idle */
        return;
    }
    send_error(c, 408, "the request did not arrive in full within %d ms", HTTP_REQUEST_TIMEOUT_MS);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct http_conn *c = h->data;
    (void)hint;
    *buf = uv_buf_init(buffer_reserve(&c->in, READ_CHUNK), READ_CHUNK);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = s->data;
    (void)buf;
    if (nread == 0) return;
    if (nread < 0) {
        c->eof = true;
        if (nread != UV_EOF || c->closing)
            conn_close(c);
        else
            process(c); /* requests already whole are answered, as with a half-closed pipeline */
        return;
    }
    if (c->closing) {
        c->discarded += (size_t)nread;
        if (c->discarded > LINGER_MAX) conn_close(c);
        return;
    }
    buffer_commit(&c->in, (size_t)nread);
    process(c);
}

/* Reads while there is room: not while the handler holds a request (the pipeline waits in the
 * socket) or the client is not reading its responses; always while draining before close. */
static void update(struct http_conn *c)
{
    if (c->closed) return;
    bool want = !c->eof && (c->closing || (!c->busy && outbuf_len(&c->out) < OUT_PAUSE));
    if (want != c->reading) {
        c->reading = want;
        if (want)
            tls_read_start((uv_stream_t *)&c->tcp, c->out.tls, on_alloc, on_read);
        else
            tls_read_stop((uv_stream_t *)&c->tcp, c->out.tls);
    }
    if (c->closing)
        uv_timer_start(&c->timer, on_timeout, LINGER_MS, 0);
    else if (c->busy)
        uv_timer_stop(&c->timer);
    else if (!c->in_message)
        uv_timer_start(&c->timer, on_timeout, HTTP_IDLE_TIMEOUT_MS, 0);
    /* mid-request: the deadline set when it began stands */
}

/* ---------------------------------------------------------------------------------------------
 * Responses.
 * ------------------------------------------------------------------------------------------- */

static void queue_response(struct http_conn *c, int status, const char *content_type,
                           const char *extra_headers, const char *body, size_t len)
{
    const char *connection = !c->keep_alive ? "Connection: close\r\n"
                             : c->http10    ? "Connection: keep-alive\r\n"
                                            : "";
    buffer_appendf(
        &c->out.queued, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
        status, reason(status), content_type, len, connection, extra_headers ? extra_headers : "");
    buffer_append(&c->out.queued, body, len);
    flush(c);
}

json_t *http_json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j) return j;
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy) abort();
    for (size_t i = 0; i <= n; i++) copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static char *dump(json_t *doc, size_t *len)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text) abort();
    *len = strlen(text);
    return text;
}

/* {"error": "..."} as text; the caller frees it. */
static char *error_text(size_t *len, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return dump(json_pack("{s:o}", "error", http_json_text(msg)), len);
}

/* An answer to no handled request (malformed, too large, too slow): it ends the connection. */
static void send_error(struct http_conn *c, int status, const char *fmt, ...)
{
    size_t len;
    va_list ap;
    va_start(ap, fmt);
    char *text = error_text(&len, fmt, ap);
    va_end(ap);
    c->keep_alive = false;
    c->in_message = false;
    log_verbose("admin API: %d %s", status, text);
    queue_response(c, status, "application/json", NULL, text, len);
    free(text);
    begin_close(c);
}

void http_respond(struct http_request *req, int status, const char *content_type,
                  const char *extra_headers, const char *body, size_t len)
{
    struct http_conn *c = req->conn;
    c->busy = false;
    if (c->closed) {
        if (c->open_handles == 0) conn_free(c);
        return;
    }
    queue_response(c, status, content_type, extra_headers, body, len);
    if (c->closed) return;
    if (!c->keep_alive)
        begin_close(c);
    else
        process(c);
}

void http_respond_json(struct http_request *req, int status, json_t *doc)
{
    if (!doc) {
        http_respond_error(req, 500, NULL, "the response could not be encoded as JSON");
        return;
    }
    size_t len;
    char *text = dump(doc, &len);
    http_respond(req, status, "application/json", NULL, text, len);
    free(text);
}

void http_respond_error(struct http_request *req, int status, const char *extra_headers,
                        const char *fmt, ...)
{
    size_t len;
    va_list ap;
    va_start(ap, fmt);
    char *text = error_text(&len, fmt, ap);
    va_end(ap);
    http_respond(req, status, "application/json", extra_headers, text, len);
    free(text);
}

/* ---------------------------------------------------------------------------------------------
 * Parsing: llhttp callbacks copy what the handler needs, within the limits.
 * ------------------------------------------------------------------------------------------- */

static struct http_conn *conn_of(llhttp_t *p)
{
    return p->data;
}

/* Records a broken limit; llhttp then stops with HPE_USER. */
static int refuse(struct http_conn *c, int status)
{
    c->error_status = status;
    return HPE_USER;
}

static int on_message_begin(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    buffer_clear(&c->url);
    buffer_clear(&c->auth);
    buffer_clear(&c->body);
    c->header_bytes = 0;
    c->has_auth = c->expect_continue = false;
    c->in_message = true;
    uv_timer_start(&c->timer, on_timeout, HTTP_REQUEST_TIMEOUT_MS, 0);
    return 0;
}

/* Appends a piece of the URL or body, or refuses it with status past max bytes. */
static int collect(struct http_conn *c, struct buffer *b, const char *at, size_t len, size_t max,
                   int status)
{
    if (buffer_len(b) + len > max) return refuse(c, status);
    buffer_append(b, at, len);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    return collect(c, &c->url, at, len, HTTP_MAX_URL, 414);
}

static int count_header(struct http_conn *c, size_t len)
{
    c->header_bytes += len;
    return c->header_bytes > HTTP_MAX_HEADERS ? refuse(c, 431) : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    if (count_header(c, len)) return HPE_USER;
    buffer_append(&c->field, at, len);
    return 0;
}

static bool field_is(const struct buffer *b, const char *name)
{
    return buffer_len(b) == strlen(name) && strncasecmp(buffer_head(b), name, buffer_len(b)) == 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    c->header = field_is(&c->field, "authorization") ? HEADER_AUTHORIZATION
                : field_is(&c->field, "expect")      ? HEADER_EXPECT
                                                     : HEADER_OTHER;
    buffer_clear(&c->field);
    buffer_clear(&c->value);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    if (count_header(c, len)) return HPE_USER;
    if (c->header != HEADER_OTHER) buffer_append(&c->value, at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    if (c->header == HEADER_AUTHORIZATION) {
        /* Twice is as good as a wrong one: the values are joined and will not match. */
        if (c->has_auth) buffer_append(&c->auth, ",", 1);
        buffer_append(&c->auth, buffer_head(&c->value), buffer_len(&c->value));
        c->has_auth = true;
    } else if (c->header == HEADER_EXPECT) {
        c->expect_continue = field_is(&c->value, "100-continue");
    }
    buffer_clear(&c->value);
    c->header = HEADER_OTHER;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > HTTP_MAX_BODY) {
        c->error_status = 413;
        return -1;
    }
    /* curl and others wait for this before sending a body. */
    if (c->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        buffer_append(&c->out.queued, cont, sizeof(cont) - 1);
        flush(c);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    return collect(c, &c->body, at, len, HTTP_MAX_BODY, 413);
}

/* Stops the parser after each message: the next waits until this one is answered. */
static int on_message_complete(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    c->in_message = false;
    c->keep_alive = llhttp_should_keep_alive(p);
    c->http10 = p->http_major == 1 && p->http_minor == 0;
    return HPE_PAUSED;
}

/* NUL-terminates the collected parts and hands the request over. */
static void dispatch(struct http_conn *c)
{
    struct http_request *r = &c->req;
    buffer_append(&c->url, "", 1);
    buffer_append(&c->auth, "", 1);
    buffer_append(&c->body, "", 1);
    char *url = buffer_head(&c->url), *q = strchr(url, '?');
    if (q) *q++ = '\0';
    r->conn = c;
    r->method = llhttp_method_name((llhttp_method_t)c->parser.method);
    r->path = url;
    r->query = q ? q : "";
    r->authorization = c->has_auth ? buffer_head(&c->auth) : NULL;
    r->body = buffer_head(&c->body);
    r->body_len = buffer_len(&c->body) - 1;
    c->busy = true;
    update(c);
    server.handler(r);
}

static void parse_failed(struct http_conn *c, llhttp_errno_t e)
{
    switch (c->error_status) {
    case 413: send_error(c, 413, "the request body exceeds %d bytes", HTTP_MAX_BODY); return;
    case 414: send_error(c, 414, "the URL exceeds %d bytes", HTTP_MAX_URL); return;
    case 431: send_error(c, 431, "the request headers exceed %d bytes", HTTP_MAX_HEADERS); return;
    }
    send_error(c, 400, "malformed HTTP request: %s (%s)", llhttp_get_error_reason(&c->parser),
               llhttp_errno_name(e));
}

static void process(struct http_conn *c)
{
    if (c->processing || c->closed) return;
    c->processing = true;
    while (!c->busy && !c->closing && !c->closed && buffer_len(&c->in) &&
           outbuf_len(&c->out) < OUT_PAUSE) {
        const char *data = buffer_head(&c->in);
        llhttp_errno_t e = llhttp_execute(&c->parser, data, buffer_len(&c->in));
        if (e == HPE_OK) {
            buffer_clear(&c->in); /* every byte is copied where it belongs */
            break;
        }
        if (e != HPE_PAUSED) {
            parse_failed(c, e);
            break;
        }
        buffer_consume(&c->in, (size_t)(llhttp_get_error_pos(&c->parser) - data));
        llhttp_resume(&c->parser);
        dispatch(c);
    }
    c->processing = false;
    if (c->eof && !c->busy && !c->closing && !c->closed) {
        if (c->in_message)
            send_error(c, 400, "the connection closed in the middle of a request");
        else
            begin_close(c);
    }
    update(c);
}

/* ---------------------------------------------------------------------------------------------
 * Accepting.
 * ------------------------------------------------------------------------------------------- */

static void on_connection(uv_stream_t *listener, int status)
{
    if (status < 0) {
        log_warning("admin API: accept failed: %s", uv_strerror(status));
        return;
    }
    struct http_conn *c = calloc(1, sizeof(*c));
    if (!c) abort();
    uv_tcp_init(server.loop, &c->tcp);
    uv_timer_init(server.loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->next = server.conns;
    if (server.conns) server.conns->prev = c;
    server.conns = c;
    server.active++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (tls_enabled(TLS_ADMIN)) c->out.tls = tls_attach((uv_stream_t *)&c->tcp, TLS_ADMIN, NULL);
    llhttp_init(&c->parser, HTTP_REQUEST, &server.settings);
    c->parser.data = c;
    if (server.active > HTTP_MAX_CONNECTIONS) {
        send_error(c, 503, "too many admin connections (at most %d)", HTTP_MAX_CONNECTIONS);
        return;
    }
    update(c);
}

bool http_start(uv_loop_t *loop, const char *host, int port, http_handler handler, char *err,
                size_t errlen)
{
    struct sockaddr_storage addr;
    if (!netaddr_parse(host, port, &addr)) {
        snprintf(err, errlen, "admin-bind '%s' is not an IP address", host);
        return false;
    }
    server.loop = loop;
    server.handler = handler;
    llhttp_settings_init(&server.settings);
    server.settings.on_message_begin = on_message_begin;
    server.settings.on_url = on_url;
    server.settings.on_header_field = on_header_field;
    server.settings.on_header_field_complete = on_header_field_complete;
    server.settings.on_header_value = on_header_value;
    server.settings.on_header_value_complete = on_header_value_complete;
    server.settings.on_headers_complete = on_headers_complete;
    server.settings.on_body = on_body;
    server.settings.on_message_complete = on_message_complete;

    uv_tcp_init(loop, &server.listener);
    int rc = uv_tcp_bind(&server.listener, (struct sockaddr *)&addr, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&server.listener, 128, on_connection);
    if (rc) {
        snprintf(err, errlen, "admin API: cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
        uv_close((uv_handle_t *)&server.listener, NULL);
        return false;
    }
    server.listening = true;
    return true;
}

void http_stop(void)
{
    if (server.listening) uv_close((uv_handle_t *)&server.listener, NULL);
    server.listening = false;
    for (struct http_conn *c = server.conns; c; c = c->next) conn_close(c);
}
