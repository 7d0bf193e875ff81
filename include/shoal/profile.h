/* profile.h - firmware profiles (SPEC section 9): which modules a device
 * class runs, its cache and outbox bounds, and its sync tuning. An agent
 * runs only the modules its profile names and refuses the others. */
#ifndef SHOAL_PROFILE_H
#define SHOAL_PROFILE_H

#include <stdbool.h>

#include "shoal/err.h"

enum shoal_module {
  SHOAL_MOD_PRICING = 1u << 0,
  SHOAL_MOD_SALES = 1u << 1,
  SHOAL_MOD_FORMS = 1u << 2,
  SHOAL_MOD_TICKETS = 1u << 3,
};

#define SHOAL_PROFILE_MEDIA_MB 256 /* media.max_mb when a profile does not say */

struct shoal_profile {
  char name[65];
  unsigned modules;           /* mask of enum shoal_module */
  int cache_max_mb;           /* >= 1 */
  int media_max_mb;           /* photo store bound (SPEC 15), default SHOAL_PROFILE_MEDIA_MB */
  int outbox_max_events;      /* >= 1 */
  int keepalive_s;            /* 5..3600 */
  int backoff_min_s;          /* >= 0 */
  int backoff_max_s;          /* >= backoff_min_s */
  int batch;                  /* 1..SHOAL_OUTBOX_BATCH_MAX */
  char local_api_listen[128]; /* "" if none */
  char channel[65];           /* sales channel of this device class ("" = basket default) */
};

/* Loads and validates a profile file into *out. Errors name the key. */
shoal_err shoal_profile_load(const char *path, struct shoal_profile *out, shoal_diag *diag);

/* Parses a profile from JSON text (used by the loader and tests). */
shoal_err shoal_profile_parse(const char *text, size_t len, struct shoal_profile *out,
                              shoal_diag *diag);

/* "pricing", "sales", "forms", "tickets". */
const char *shoal_module_name(enum shoal_module m);

/* SHOAL_OK if the profile has module m, else SHOAL_EMODULE naming both. */
shoal_err shoal_profile_require(const struct shoal_profile *p, enum shoal_module m,
                                shoal_diag *diag);

#endif
