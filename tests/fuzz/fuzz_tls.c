/* Fuzzes the server side of the TLS layer (server/tls.h) through its API: arbitrary bytes as the
 * ciphertext a client sends, fed in chunks whose sizes come from the input, on a real libuv
 * stream (one end of a socketpair) with a real certificate made at start-up. Whatever arrives,
 * the layer must never crash, leak, deliver plaintext before its handshake, or deliver anything
 * after it reported the end; closing must free everything. */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "config.h"
#include "log.h"
#include "tls.h"

static uv_loop_t *loop;
static char plain[16 * 1024];
static bool ended;
static size_t delivered;

/* A self-signed P-256 certificate and its key, in files for tls_configure. */
static void make_certificate(const char *dir, struct config *cfg)
{
    char crt[512], key[512];
    snprintf(crt, sizeof(crt), "%s/fuzz.crt", dir);
    snprintf(key, sizeof(key), "%s/fuzz.key", dir);
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    CHECK(pk && x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pk);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"fuzz", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    CHECK(X509_sign(x, pk, EVP_sha256()) > 0);
    FILE *f = fopen(crt, "w");
    CHECK(f && PEM_write_X509(f, x));
    fclose(f);
    f = fopen(key, "w");
    CHECK(f && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL));
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
    cfg->tls_cert_file = strdup(crt);
    cfg->tls_key_file = strdup(key);
    cfg->tls_ca_cert_file = strdup(crt);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static char dir[] = "/tmp/redpair-fuzz-tls-XXXXXX";
    CHECK(mkdtemp(dir));
    struct config cfg;
    char err[CONFIG_ERROR_MAX];
    config_init(&cfg);
    make_certificate(dir, &cfg);
    cfg.tls_port = 1;
    cfg.tls_auth_clients = TLS_AUTH_OPTIONAL;
    CHECK(tls_configure(&cfg, err, sizeof(err)));
    config_free(&cfg);
    loop = uv_default_loop();
    log_open(LOG_WARNING, "/dev/null"); /* a line per refused handshake */
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h, (void)hint;
    *buf = uv_buf_init(plain, sizeof(plain));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)s;
    CHECK(!ended);
    if (nread < 0) {
        ended = true;
        return;
    }
    CHECK(buf->base == plain && (size_t)nread <= sizeof(plain));
    delivered += (size_t)nread;
}

static void on_closed(uv_handle_t *h)
{
    tls_free(h->data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fds[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    uv_tcp_t tcp;
    uv_tcp_init(loop, &tcp);
    CHECK(uv_tcp_open(&tcp, fds[0]) == 0);
    struct tls *t = tls_attach((uv_stream_t *)&tcp, TLS_CLIENTS, NULL);
    tcp.data = t;
    ended = false;
    delivered = 0;
    CHECK(tls_read_start((uv_stream_t *)&tcp, t, on_alloc, on_read) == 0);
    CHECK(tls_write(t, "+OK\r\n", 5, NULL) == 0); /* waits for the handshake */

    /* The first byte picks the chunk size: whole, or 1..255 bytes at a time. */
    size_t step = size ? data[0] : 0, pos = size ? 1 : 0;
    if (!step) step = size;
    while (pos < size && !ended) {
        size_t n = size - pos < step ? size - pos : step;
        tls_feed(t, (const char *)data + pos, n);
        pos += n;
    }
    CHECK(delivered == 0); /* no plaintext without a handshake, which bytes alone cannot finish */
    tls_close_notify(t);
    uv_close((uv_handle_t *)&tcp, on_closed);
    uv_run(loop, UV_RUN_NOWAIT);
    close(fds[1]);
    return 0;
}
