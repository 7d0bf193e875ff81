/* hub_metrics.c - Prometheus text for /metrics (see hub_metrics.h). Every
 * figure comes from the database, so a scrape right after a restart shows
 * the same counters as before it; the ingest rate is a gauge over the last
 * minute (Prometheus derives finer rates from the *_total counters). */
#include "hub_metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/sbuf.h"
#include "store.h"

static void head(struct shoal_sbuf *b, const char *name, const char *type, const char *help) {
  shoal_sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values are identifiers (SPEC 3) or scopes, but escape anyway. */
static void label(struct shoal_sbuf *b, const char *v) {
  for (const char *s = v ? v : ""; *s; s++) {
    if (*s == '\\' || *s == '"')
      shoal_sbuf_printf(b, "\\%c", *s);
    else if (*s == '\n')
      shoal_sbuf_printf(b, "\\n");
    else
      shoal_sbuf_printf(b, "%c", *s);
  }
}

static shoal_err scalar(hub_store *db, struct shoal_sbuf *b, const char *name, const char *type,
                        const char *help, const char *sql, shoal_diag *diag) {
  int64_t v = 0;
  shoal_err rc = hub_store_query_int(db, sql, 0, &v, diag);
  if (rc != SHOAL_OK)
    return rc;
  head(b, name, type, help);
  shoal_sbuf_printf(b, "%s %lld\n", name, (long long)v);
  return SHOAL_OK;
}

/* The per-device gauges (outbox depth, last-seen age), each family
 * under one header. */
static shoal_err per_device(hub_store *db, int64_t now_ms, struct shoal_sbuf *b, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc;
  if ((rc = hub_store_prepare(db,
                              "SELECT device, store, outbox_depth, last_seen_ms FROM devices "
                              "ORDER BY store, device",
                              &st, diag)) != SHOAL_OK)
    return rc;
  struct shoal_sbuf depth = {.max = HUB_METRICS_MAX_BYTES}, age = {.max = HUB_METRICS_MAX_BYTES};
  while (hub_store_step(st) == HUB_STORE_ROW) {
    const char *dev = (const char *)hub_store_column_text(st, 0);
    const char *store = (const char *)hub_store_column_text(st, 1);
    if (hub_store_column_type(st, 2) != HUB_STORE_NULL) {
      shoal_sbuf_printf(&depth, "shoal_device_outbox_depth{device=\"");
      label(&depth, dev);
      shoal_sbuf_printf(&depth, "\",store=\"");
      label(&depth, store);
      shoal_sbuf_printf(&depth, "\"} %lld\n", (long long)hub_store_column_int64(st, 2));
    }
    if (hub_store_column_type(st, 3) != HUB_STORE_NULL) {
      int64_t a = now_ms - hub_store_column_int64(st, 3);
      shoal_sbuf_printf(&age, "shoal_device_last_seen_age_seconds{device=\"");
      label(&age, dev);
      shoal_sbuf_printf(&age, "\",store=\"");
      label(&age, store);
      shoal_sbuf_printf(&age, "\"} %lld.%03lld\n", (long long)(a / 1000),
                        (long long)((a < 0 ? -a : a) % 1000));
    }
  }
  hub_store_finalize(st);
  head(b, "shoal_device_outbox_depth", "gauge",
       "Events waiting in a device's outbox, as it last reported.");
  if (depth.p)
    shoal_sbuf_printf(b, "%s", depth.p);
  head(b, "shoal_device_last_seen_age_seconds", "gauge",
       "Seconds since the hub last heard from a device.");
  if (age.p)
    shoal_sbuf_printf(b, "%s", age.p);
  if (depth.failed || age.failed)
    b->failed = true;
  free(depth.p);
  free(age.p);
  return SHOAL_OK;
}

shoal_err hub_metrics_render(hub_store *db, int64_t now_ms, char **out, size_t *out_len,
                             shoal_diag *diag) {
  struct shoal_sbuf b = {.max = HUB_METRICS_MAX_BYTES};
  hub_stmt *st = NULL;
  shoal_err rc = SHOAL_OK;
  int src;

  head(&b, "shoal_ingest_events_total", "counter", "Events stored by the hub, by type.");
  /* Totals kept by triggers (migration 0005), not counted here. */
  if ((rc = hub_store_prepare(db,
                              "SELECT substr(name, 14), value FROM hub_counters "
                              "WHERE name LIKE 'events\\_total:%' ESCAPE '\\' ORDER BY name",
                              &st, diag)) != SHOAL_OK)
    goto cleanup;
  while ((src = hub_store_step(st)) == HUB_STORE_ROW) {
    shoal_sbuf_printf(&b, "shoal_ingest_events_total{type=\"");
    label(&b, (const char *)hub_store_column_text(st, 0));
    shoal_sbuf_printf(&b, "\"} %lld\n", (long long)hub_store_column_int64(st, 1));
  }
  hub_store_finalize(st);
  st = NULL;

  int64_t recent = 0;
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM events WHERE received_ms > %lld",
           (long long)(now_ms - HUB_METRICS_RATE_WINDOW_MS));
  if ((rc = hub_store_query_int(db, sql, 0, &recent, diag)) != SHOAL_OK)
    goto cleanup;
  head(&b, "shoal_ingest_events_per_second", "gauge",
       "Events stored per second, averaged over the last minute.");
  shoal_sbuf_printf(&b, "shoal_ingest_events_per_second %.3f\n",
                    (double)recent * 1000.0 / HUB_METRICS_RATE_WINDOW_MS);

  if ((rc = scalar(db, &b, "shoal_sales_total", "counter", "Sales stored.",
                   "SELECT COALESCE(SUM(value), 0) FROM hub_counters WHERE name = 'sales_total'",
                   diag)) != SHOAL_OK ||
      (rc = scalar(db, &b, "shoal_dead_letters_total", "counter",
                   "Events refused (kept in the dead-letter table or, past a device's cap, "
                   "only counted).",
                   "SELECT (SELECT COUNT(*) FROM dead_letters) + "
                   "(SELECT COALESCE(SUM(count), 0) FROM dead_letters_dropped)",
                   diag)) != SHOAL_OK ||
      (rc = scalar(db, &b, "shoal_dead_letters_dropped_total", "counter",
                   "Refused events only counted: their device had reached its dead-letter cap.",
                   "SELECT COALESCE(SUM(count), 0) FROM dead_letters_dropped", diag)) != SHOAL_OK ||
      (rc = scalar(db, &b, "shoal_devices", "gauge", "Devices known to the hub.",
                   "SELECT COUNT(*) FROM devices", diag)) != SHOAL_OK ||
      (rc = scalar(db, &b, "shoal_devices_online", "gauge", "Devices currently online.",
                   "SELECT COUNT(*) FROM devices WHERE online != 0", diag)) != SHOAL_OK ||
      (rc = scalar(db, &b, "shoal_loyalty_overdraft_total", "counter",
                   "Point redemptions booked after their member code's reservation had ended.",
                   "SELECT COALESCE(SUM(value), 0) FROM hub_counters "
                   "WHERE name = 'loyalty_overdraft_total'",
                   diag)) != SHOAL_OK ||
      (rc = scalar(db, &b, "shoal_orders_unknown_sku_total", "counter",
                   "E-commerce orders accepted with SKUs no policy prices (flagged).",
                   "SELECT COALESCE(SUM(value), 0) FROM hub_counters "
                   "WHERE name = 'orders_unknown_sku_total'",
                   diag)) != SHOAL_OK)
    goto cleanup;

  if ((rc = per_device(db, now_ms, &b, diag)) != SHOAL_OK)
    goto cleanup;

  head(&b, "shoal_policy_version", "gauge", "Latest published policy version per scope.");
  if ((rc = hub_store_prepare(
           db, "SELECT scope, MAX(version) FROM policies GROUP BY scope ORDER BY scope", &st,
           diag)) != SHOAL_OK)
    goto cleanup;
  while ((src = hub_store_step(st)) == HUB_STORE_ROW) {
    shoal_sbuf_printf(&b, "shoal_policy_version{scope=\"");
    label(&b, (const char *)hub_store_column_text(st, 0));
    shoal_sbuf_printf(&b, "\"} %lld\n", (long long)hub_store_column_int64(st, 1));
  }
  hub_store_finalize(st);
  st = NULL;

  if ((rc = scalar(db, &b, "shoal_webhook_queue_depth", "gauge", "Webhook deliveries waiting.",
                   "SELECT COUNT(*) FROM webhook_queue", diag)) != SHOAL_OK ||
      (rc = scalar(db, &b, "shoal_webhook_failures_total", "counter",
                   "Failed webhook delivery attempts.",
                   "SELECT COALESCE(SUM(value), 0) FROM hub_counters WHERE name = "
                   "'webhook_failures_total'",
                   diag)) != SHOAL_OK ||
      (rc = scalar(db, &b, "shoal_webhook_delivered_total", "counter", "Webhook deliveries made.",
                   "SELECT COALESCE(SUM(value), 0) FROM hub_counters WHERE name = "
                   "'webhook_delivered_total'",
                   diag)) != SHOAL_OK ||
      (rc = scalar(db, &b, "shoal_webhook_dead_total", "counter",
                   "Webhook deliveries given up after the bound of attempts.",
                   "SELECT COUNT(*) FROM webhook_dead", diag)) != SHOAL_OK)
    goto cleanup;

  if (b.failed) {
    rc = shoal_fail(diag, SHOAL_ELIMIT, "metrics page over %d bytes", HUB_METRICS_MAX_BYTES);
    goto cleanup;
  }
  *out = b.p;
  *out_len = b.len;
  b.p = NULL;
cleanup:
  hub_store_finalize(st);
  free(b.p);
  return rc;
}
