/* IP addresses as libuv takes them. The loop connects and listens on addresses only (names are
 * resolved once, before it runs), IPv4 or IPv6. */
#ifndef REDPAIR_NETADDR_H
#define REDPAIR_NETADDR_H

#include <stdbool.h>
#include <uv.h>

/* host:port as a socket address; false when host is not an IP address. */
static inline bool netaddr_parse(const char *host, int port, struct sockaddr_storage *out)
{
    return uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0 ||
           uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0;
}

#endif
