/* RESP2, the Redis wire protocol: a streaming request parser, a streaming reply framer and the
 * few encoders redpair needs.
 *
 * Requests come as a multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or inline (`GET k\r\n`). The
 * parser is handed the bytes from the start of the current command, as many as have arrived. It
 * keeps its progress between calls, so a command that arrives a byte at a time is scanned once,
 * and it never copies a multibulk argument: argv holds offsets into the caller's bytes. Inline
 * arguments may carry quotes and escapes, so they are unescaped into the parser's own buffer.
 *
 *   resp_request_parse(buf, len) ─┬─ RESP_MORE   keep the bytes, call again with more
 *                                 ├─ RESP_DONE   argv ready, command is `size` bytes long
 *                                 └─ RESP_ERROR  `error` says why; reply it and close
 *
 * Replies are framed, not decoded: resp_reply_parse() says how many bytes the next complete reply
 * (nested arrays included) occupies, so it can be passed on verbatim. resp_value_read() then
 * decodes one value header from a complete reply when redpair needs to look inside it. */
#ifndef REDPAIR_RESP_H
#define REDPAIR_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "buffer.h"

#define RESP_INLINE_MAX    (64 * 1024) /* longest inline command or length line, as Redis */
#define RESP_MULTIBULK_MAX (1L << 20)  /* most arguments in one command */
/* Before AUTH a client may send no more than Redis allows one: a password needs no megabytes. */
#define RESP_UNAUTH_MULTIBULK_MAX 10
#define RESP_UNAUTH_BULK_MAX      16384

enum resp_result { RESP_DONE, RESP_MORE, RESP_ERROR };

struct resp_arg {
    size_t off; /* from the command's first byte, or into the inline buffer */
    size_t len;
};

struct resp_request {
    long long max_bulk_len; /* proto-max-bulk-len */
    bool unauthenticated;   /* the RESP_UNAUTH_* limits apply */

    /* Result, valid after RESP_DONE until the next resp_request_reset(). */
    int argc; /* 0 for an empty line or `*0`: nothing to execute, just consume */
    struct resp_arg *argv;
    bool is_inline;
    size_t size;       /* bytes the command occupied */
    const char *error; /* after RESP_ERROR: "Protocol error: ..." as Redis words it */

    /* Parser progress. */
    int argv_cap;
    long long multibulk_left; /* arguments still to come; -1 before the header */
    long long bulk_len;       /* length of the bulk being read; -1 before its header */
    size_t pos;               /* bytes of the command already scanned */
    char *inline_buf;
    size_t inline_cap;
    char error_buf[48]; /* `error` when it names the offending byte */
};

void resp_request_init(struct resp_request *r, long long max_bulk_len);
void resp_request_reset(struct resp_request *r); /* ready for the next command */
void resp_request_free(struct resp_request *r);
enum resp_result resp_request_parse(struct resp_request *r, const char *buf, size_t len);

/* The bytes of argument i of a parsed command that started at buf. */
static inline const char *resp_request_arg(const struct resp_request *r, const char *buf, int i)
{
    return (r->is_inline ? r->inline_buf : buf) + r->argv[i].off;
}

/* Every argument of a parsed command that started at buf, into *argv and *argl, which grow (with
 * *cap counting their room) as needed and are the caller's to free. */
void resp_request_args(const struct resp_request *r, const char *buf, const char ***argv,
                       size_t **argl, int *cap);

/* An argument is this word, in any case, as Redis compares options and subcommands. */
static inline bool resp_arg_is(const char *arg, size_t len, const char *word)
{
    return len == strlen(word) && strncasecmp(arg, word, len) == 0;
}

/* A reply may nest as deep as a server sends it (a Lua table holding itself nests some 8000
 * arrays deep), and must never break a link. So the framer keeps, per open array, how many of its
 * elements have not started yet, and forgets an array as soon as its last element starts: a chain
 * of arrays nested as their last element, as Lua sends them, costs one level. Other nesting grows
 * the stack onto the heap, by at most 8 bytes per level of the reply, whose own bytes are at least
 * 4 per level. */
#define RESP_REPLY_STACK 16

struct resp_reply {
    /* Result, valid after RESP_DONE until the next resp_reply_reset(). */
    size_t size;
    const char *error; /* after RESP_ERROR */

    /* Framer progress: the open arrays' elements not yet started, innermost last. */
    size_t depth, cap; /* cap: room in `heap`, 0 while `stack` holds them */
    long long *heap;
    long long stack[RESP_REPLY_STACK];
    size_t pos;
};

/* Ready for the next reply; also gives back what a deep one took. */
void resp_reply_reset(struct resp_reply *r);
enum resp_result resp_reply_parse(struct resp_reply *r, const char *buf, size_t len);

/* One decoded value header of a complete reply. */
struct resp_value {
    char type;       /* '+', '-', ':', '$', '*' */
    const char *str; /* '+', '-': the line; '$': the payload (NULL for a null bulk) */
    size_t len;
    long long integer; /* ':': the number; '*': element count (-1 for a null array) */
};

/* Decodes the value at buf, which must lie inside a reply already framed by resp_reply_parse.
 * Returns the bytes read: the whole value for '+', '-', ':', '$', and only the header line for
 * '*', so that the next call reads the first element. Returns 0 on malformed input. */
size_t resp_value_read(const char *buf, size_t len, struct resp_value *v);
/* Steps *buf past one whole value of such a reply, nested arrays included; false if malformed. */
bool resp_value_skip(const char **buf, size_t *len);
/* resp_value_read() at *buf, stepping past what it read (an array's header only). */
bool resp_value_next(const char **buf, size_t *len, struct resp_value *v);

/* Parses exactly n bytes as Redis's string2ll() does: an optional '-', no '+', no leading zeros,
 * no spaces, no "-0", no overflow. */
bool resp_parse_ll(const char *s, size_t n, long long *out);

/* Encoders. */
void resp_append_command(struct buffer *out, int argc, const char *const *argv, const size_t *argl);
void resp_append_bulk(struct buffer *out, const char *p, size_t len);
void resp_append_status(struct buffer *out, const char *status); /* +status */
void resp_append_error(struct buffer *out, const char *fmt, ...) /* -fmt */
    __attribute__((format(printf, 2, 3)));
void resp_append_integer(struct buffer *out, long long n);
void resp_append_array_header(struct buffer *out, long long n);

#endif
