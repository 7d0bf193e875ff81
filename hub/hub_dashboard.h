/* hub_dashboard.h - the dashboard's static files (hub/dashboard/), embedded
 * into shoal-hub at build time (cmake/ShoalEmbedFile.cmake) and served
 * without authentication: they hold no data, every figure on the pages comes
 * from the /api/v1 routes with the bearer token the user types in. */
#ifndef HUB_DASHBOARD_H
#define HUB_DASHBOARD_H

#include <stddef.h>

/* One embedded file: its path under hub/dashboard/ and its bytes. */
struct hub_asset {
  const char *path;
  const unsigned char *data;
  size_t len;
};

/**
 * The file that answers GET `url`, or NULL: "/" is index.html, "/<path>"
 * is <path> under hub/dashboard/, never under /api/ (exact match against
 * the embedded table, so no path can climb out of it). *ctype is set to the file's Content-Type when found.
 */
const struct hub_asset *hub_dashboard_find(const char *url, const char **ctype);

#endif
