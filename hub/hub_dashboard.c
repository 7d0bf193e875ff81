/* hub_dashboard.c - lookup of the dashboard's embedded static files (see
 * hub_dashboard.h); the table is generated from hub/dashboard/ at build time. */
#include "hub_dashboard.h"

#include <string.h>

extern const struct hub_asset hub_dashboard_assets[];
extern const size_t hub_dashboard_assets_count;

static const struct {
  const char *ext, *ctype;
} k_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".md", "text/plain; charset=utf-8"},
};

static const char *content_type(const char *path) {
  size_t n = strlen(path);
  for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++) {
    size_t e = strlen(k_types[i].ext);
    if (n > e && strcmp(path + n - e, k_types[i].ext) == 0)
      return k_types[i].ctype;
  }
  return "application/octet-stream";
}

const struct hub_asset *hub_dashboard_find(const char *url, const char **ctype) {
  if (url[0] != '/' || strncmp(url, "/api/", 5) == 0)
    return NULL;
  const char *want = strcmp(url, "/") == 0 ? "index.html" : url + 1;
  for (size_t i = 0; i < hub_dashboard_assets_count; i++) {
    if (strcmp(hub_dashboard_assets[i].path, want) == 0) {
      *ctype = content_type(want);
      return &hub_dashboard_assets[i];
    }
  }
  return NULL;
}
