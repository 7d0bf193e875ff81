/* fuzz_hub_bodies.c - request bodies of the hub's HQ API that feed its
 * database: POST /api/v1/orders (online orders, SPEC 13) and POST
 * /api/v1/customers, each on a real hub schema (in memory, reopened every
 * REOPEN_EVERY inputs so it stays small). Invariants: no crash; success
 * comes with a result and a 200/201 status; an order accepted once is
 * "seen before" (200) when delivered again, never counted twice; a
 * refusal leaves no result. */
#include "fuzz_util.h"
#include "hub_customers.h"
#include "hub_orders.h"
#include "store.h"

#define REOPEN_EVERY 500

static hub_store *db;
static unsigned runs;

static void reopen(void) {
  shoal_diag d;
  hub_store_close(db);
  db = NULL;
  if (hub_store_open(":memory:", &db, &d) != SHOAL_OK) {
    fprintf(stderr, "fuzz: hub db: %s\n", d.msg);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!db || ++runs % REOPEN_EVERY == 0)
    reopen();
  const char *body = (const char *)data;
  shoal_diag d;
  int64_t now = 1795360000000LL;
  unsigned status = 0;
  cJSON *out = NULL;
  shoal_err rc = hub_orders_ingest(db, body, size, now, 1, &status, &out, &d);
  if (rc == SHOAL_OK) {
    if (!out || (status != 200 && status != 201))
      abort();
    cJSON_Delete(out);
    out = NULL;
    status = 0;
    if (hub_orders_ingest(db, body, size, now, 1, &status, &out, &d) != SHOAL_OK || !out ||
        status != 200) {
      fprintf(stderr, "fuzz: an accepted order was not idempotent (status %u)\n", status);
      abort();
    }
  } else if (out) {
    abort();
  }
  cJSON_Delete(out);
  out = NULL;
  bool created = false;
  rc = hub_customers_upsert(db, body, size, now, &out, &created, &d);
  if ((rc == SHOAL_OK) != (out != NULL))
    abort();
  cJSON_Delete(out);
  return 0;
}
