#ifndef REDPAIR_ASSETS_H
#define REDPAIR_ASSETS_H

/* The dashboard's files (web/), embedded in the binary at build time by scripts/embed-web.cmake,
 * so nothing is installed beside redpair. The generated web_assets.c in the build tree holds one
 * entry per file with its bytes and content type. */

#include <stddef.h>

struct web_asset {
    const char *path;         /* "/index.html", "/app.js", ... */
    const char *content_type; /* "text/html; charset=utf-8", ... */
    const unsigned char *data;
    size_t len;
};

/* The asset at an exact request path ("/" is "/index.html"), or NULL. Only the embedded names
 * match, so no path reaches anything else. */
const struct web_asset *web_asset_find(const char *path);

#endif
