/* The admin plane's HTTP/1.1 server: llhttp parses, libuv carries, on the proxy's own loop.
 *
 *   accept ─▶ read ─▶ llhttp, one message at a time (paused at its end) ─▶ handler
 *   handler ─▶ http_respond, at once or later (answers that come from the store's thread)
 *   only then is the next pipelined message parsed: responses leave in request order
 *
 * Everything is bounded so that no client can slow the data path or hold memory: the URL, the
 * headers, the body (413), the number of connections; a request must arrive whole within
 * HTTP_REQUEST_TIMEOUT_MS (408) and an idle keep-alive connection closes after
 * HTTP_IDLE_TIMEOUT_MS. A malformed request gets 400 and the connection closes; the server goes
 * on serving the others. */
#ifndef REDPAIR_HTTP_H
#define REDPAIR_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct json_t;

#define HTTP_MAX_URL            8192
#define HTTP_MAX_HEADERS        (32 * 1024)
#define HTTP_MAX_BODY           (64 * 1024)
#define HTTP_MAX_CONNECTIONS    256
#define HTTP_REQUEST_TIMEOUT_MS 5000
#define HTTP_IDLE_TIMEOUT_MS    60000

struct http_conn;

/* One request, valid until it is answered. Strings are NUL-terminated. */
struct http_request {
    struct http_conn *conn;
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* up to '?' */
    const char *query;         /* after '?', "" when none */
    const char *authorization; /* the header's value, NULL when absent */
    const char *body;
    size_t body_len;
};

typedef void (*http_handler)(struct http_request *req);

/* Listens on host:port; every complete request goes to handler, which must answer it exactly
 * once with http_respond (now or later). Returns false with the reason in err. */
bool http_start(uv_loop_t *loop, const char *host, int port, http_handler handler, char *err,
                size_t errlen);
/* Stops listening and closes every connection. */
void http_stop(void);

/* extra_headers: complete "Name: value\r\n" lines, or NULL. */
void http_respond(struct http_request *req, int status, const char *content_type,
                  const char *extra_headers, const char *body, size_t len);
/* A JSON string of s; bytes that do not form UTF-8 (a truncated message, a raw URL byte, a file
 * name) become '?', since JSON text must be UTF-8. */
struct json_t *http_json_text(const char *s);

/* Answers with a JSON document (taking the reference; NULL answers 500), or with
 * {"error": message}. */
void http_respond_json(struct http_request *req, int status, struct json_t *doc);
void http_respond_error(struct http_request *req, int status, const char *extra_headers,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
