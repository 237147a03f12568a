/* The embedded dashboard: lookup by exact path, content types, bytes equal to web/'s files. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "unit.h"

/* web/NAME from the source tree ($REDPAIR_TEST_DATA is tests/unit/data); the caller frees. */
static char *read_source(const char *name, size_t *len)
{
    const char *data = getenv("REDPAIR_TEST_DATA");
    ck_assert_msg(data != NULL, "REDPAIR_TEST_DATA is not set");
    char path[4096];
    snprintf(path, sizeof(path), "%s/../../../web/%s", data, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

START_TEST(test_files)
{
    static const struct {
        const char *path, *file, *type;
    } want[] = {
        {"/index.html", "index.html", "text/html; charset=utf-8"},
        {"/app.js", "app.js", "text/javascript; charset=utf-8"},
        {"/style.css", "style.css", "text/css; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct web_asset *a = web_asset_find(want[i].path);
        ck_assert_msg(a != NULL, "%s not embedded", want[i].path);
        ck_assert_str_eq(a->path, want[i].path);
        ck_assert_str_eq(a->content_type, want[i].type);
        size_t len;
        char *src = read_source(want[i].file, &len);
        ck_assert_uint_eq(a->len, len);
        ck_assert_int_eq(memcmp(a->data, src, len), 0);
        free(src);
    }
}
END_TEST

START_TEST(test_root_is_index)
{
    const struct web_asset *index = web_asset_find("/index.html");
    ck_assert_ptr_nonnull(index);
    ck_assert_ptr_eq(web_asset_find("/"), index);
}
END_TEST

/* The page loads what it names: every src= and href= to "/..." in index.html is embedded. */
START_TEST(test_index_references_exist)
{
    const struct web_asset *index = web_asset_find("/");
    ck_assert_ptr_nonnull(index);
    const char *html = (const char *)index->data; /* NUL-terminated by the generator */
    int found = 0;
    for (const char *p = html; (p = strstr(p, "=\"/")) != NULL; p += 3) {
        size_t at = (size_t)(p - html);
        bool src = at >= 3 && strncmp(p - 3, "src", 3) == 0;
        bool href = at >= 4 && strncmp(p - 4, "href", 4) == 0;
        if (!src && !href) continue;
        char path[256];
        size_t n = strcspn(p + 2, "\"");
        ck_assert_uint_lt(n, sizeof(path));
        memcpy(path, p + 2, n);
        path[n] = '\0';
        ck_assert_msg(web_asset_find(path) != NULL, "index.html refers to %s, not embedded", path);
        found++;
    }
    ck_assert_int_ge(found, 2); /* at least app.js and style.css */
}
END_TEST

START_TEST(test_unknown_and_traversal)
{
    static const char *const bad[] = {
        "",
        "index.html",
        "/nope.js",
        "/README.md",
        "/assets.h",
        "/INDEX.HTML",
        "//index.html",
        "/./index.html",
        "/../index.html",
        "/index.html/",
        "/index.html/..",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2findex.html",
        "/web/app.js",
        "/app.js ",
        "/app.js\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(web_asset_find(bad[i]) == NULL, "'%s' found", bad[i]);
    ck_assert_ptr_null(web_asset_find(NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("web_assets");
    TCase *tc = tcase_create("web_assets");
    tcase_add_test(tc, test_files);
    tcase_add_test(tc, test_root_is_index);
    tcase_add_test(tc, test_index_references_exist);
    tcase_add_test(tc, test_unknown_and_traversal);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
