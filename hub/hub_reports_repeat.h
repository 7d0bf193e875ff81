/* hub_reports_repeat.h - repeat-purchase rate (SPEC 13 reports): of the
 * customers whose first purchase was in a channel (or in an hour of the
 * day, store local time), the share who bought again on any channel. */
#ifndef HUB_REPORTS_REPEAT_H
#define HUB_REPORTS_REPEAT_H

#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "shoal/err.h"

/* by "channel" or "hour"; utc_offset ("+08:00", may be NULL: the global
 * policy's utc_offset, else +00:00) places "hour". *out: [{"channel"|"hour",
 * "customers", "repeat", "rate_bp"}] (rate in basis points, rounded half
 * up), sorted by the key. SHOAL_EINPUT for a bad by or offset. */
shoal_err hub_reports_repeat(hub_store *db, const char *by, const char *utc_offset, int64_t now_ms,
                             cJSON **out, shoal_diag *diag);

#endif
