/* test_wire_payloads.c - the non-envelope wire payloads (wire_payloads.h):
 * each encoder writes the exact bytes the protocol has always carried (the
 * literals below are what hubs and agents sent before the codec moved into
 * shared/), each decoder reads back what its encoder wrote, and refuses
 * malformed or oversized input with a diag naming the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/jsonx.h"
#include "shoal/profile.h"
#include "shoal/wire_payloads.h"

/* ---- ack ---- */

static void test_wire_payloads_ack_bytes_and_round_trip(void **state) {
  (void)state;
  char buf[SHOAL_ACK_MAX_BYTES];
  size_t n = 0;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_ack_encode("77", 2, buf, sizeof buf, &n, &d), SHOAL_OK);
  assert_string_equal(buf, "{\"epoch\":\"77\",\"upto\":2}");
  assert_int_equal(n, strlen(buf));
  uint64_t epoch = 0;
  int64_t upto = -1;
  assert_int_equal(shoal_ack_decode(buf, n, &epoch, &upto, &d), SHOAL_OK);
  assert_true(epoch == 77);
  assert_int_equal(upto, 2);
  /* The widest values: a 20-digit epoch; a seq up to 2^53 reads back
   * (JSON numbers are doubles to cJSON), a larger one is refused, never
   * rounded. */
  assert_int_equal(shoal_ack_encode("18446744073709551615", INT64_MAX, buf, sizeof buf, &n, &d),
                   SHOAL_OK);
  assert_string_equal(buf, "{\"epoch\":\"18446744073709551615\",\"upto\":9223372036854775807}");
  assert_int_equal(shoal_ack_decode(buf, n, &epoch, &upto, &d), SHOAL_EINPUT);
  assert_int_equal(
      shoal_ack_encode("18446744073709551615", 9007199254740992LL, buf, sizeof buf, &n, &d),
      SHOAL_OK);
  assert_int_equal(shoal_ack_decode(buf, n, &epoch, &upto, &d), SHOAL_OK);
  assert_true(epoch == UINT64_MAX);
  assert_true(upto == 9007199254740992LL);
  /* upto 0: nothing acknowledged yet is a valid ack. */
  assert_int_equal(shoal_ack_encode("5", 0, buf, sizeof buf, &n, &d), SHOAL_OK);
  assert_string_equal(buf, "{\"epoch\":\"5\",\"upto\":0}");
  /* A number for the epoch is read too (older hubs). */
  const char *num = "{\"epoch\":12,\"upto\":3}";
  assert_int_equal(shoal_ack_decode(num, strlen(num), &epoch, &upto, &d), SHOAL_OK);
  assert_true(epoch == 12 && upto == 3);
}

static void test_wire_payloads_ack_encode_refuses_bad_input(void **state) {
  (void)state;
  char buf[SHOAL_ACK_MAX_BYTES];
  size_t n = 99;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_ack_encode("", 1, buf, sizeof buf, &n, &d), SHOAL_EINPUT);
  assert_int_equal(shoal_ack_encode("12a", 1, buf, sizeof buf, &n, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "epoch"));
  assert_int_equal(shoal_ack_encode("123456789012345678901", 1, buf, sizeof buf, &n, &d),
                   SHOAL_EINPUT);
  assert_int_equal(shoal_ack_encode(NULL, 1, buf, sizeof buf, &n, &d), SHOAL_EINPUT);
  assert_int_equal(shoal_ack_encode("7", -1, buf, sizeof buf, &n, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "upto"));
  char small[10];
  assert_int_equal(shoal_ack_encode("7", 1, small, sizeof small, &n, &d), SHOAL_ELIMIT);
  assert_int_equal(n, 99); /* untouched on failure */
}

static shoal_err ack_dec(const char *text) {
  uint64_t epoch = 42;
  int64_t upto = 42;
  shoal_diag d = {{0}};
  shoal_err rc = shoal_ack_decode(text, strlen(text), &epoch, &upto, &d);
  if (rc != SHOAL_OK) {
    assert_true(epoch == 42 && upto == 42); /* out-params set only on success */
    assert_non_null(strstr(d.msg, "ack"));
  }
  return rc;
}

static void test_wire_payloads_ack_decode_refuses_malformed(void **state) {
  (void)state;
  assert_int_equal(ack_dec("{\"epoch\":\"7\",\"upto\":1}"), SHOAL_OK);
  assert_int_equal(ack_dec("{\"epoch\":\"7\""), SHOAL_EINPUT);              /* truncated */
  assert_int_equal(ack_dec("[1,2]"), SHOAL_EINPUT);                         /* not an object */
  assert_int_equal(ack_dec("{\"upto\":1}"), SHOAL_EINPUT);                  /* no epoch */
  assert_int_equal(ack_dec("{\"epoch\":\"7\"}"), SHOAL_EINPUT);             /* no upto */
  assert_int_equal(ack_dec("{\"epoch\":\"7\",\"upto\":-1}"), SHOAL_EINPUT); /* negative */
  assert_int_equal(ack_dec("{\"epoch\":\"7\",\"upto\":1.5}"), SHOAL_EINPUT);
  assert_int_equal(ack_dec("{\"epoch\":\"x7\",\"upto\":1}"), SHOAL_EINPUT);
  assert_int_equal(ack_dec("{\"epoch\":\"7\",\"upto\":1,\"upto\":2}"), SHOAL_EINPUT); /* dup key */
  char big[SHOAL_ACK_MAX_BYTES + 64];
  int n = snprintf(big, sizeof big, "{\"epoch\":\"7\",\"upto\":1,\"pad\":\"");
  memset(big + n, 'x', sizeof big - (size_t)n - 3);
  memcpy(big + sizeof big - 3, "\"}", 3);
  assert_int_equal(ack_dec(big), SHOAL_EINPUT); /* over SHOAL_ACK_MAX_BYTES */
}

/* ---- presence ---- */

static void test_wire_payloads_presence_bytes_and_round_trip(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  char *text = NULL;
  const struct shoal_presence on = {.online = true,
                                    .device = "d1",
                                    .store = "s1",
                                    .region = "cn-sw",
                                    .profile = "pos-terminal",
                                    .at_ms = 1772330400000LL};
  assert_int_equal(shoal_presence_encode(&on, &text, &d), SHOAL_OK);
  assert_string_equal(text, "{\"online\":true,\"device\":\"d1\",\"store\":\"s1\",\"region\":"
                            "\"cn-sw\",\"profile\":\"pos-terminal\",\"at\":"
                            "\"2026-03-01T02:00:00.000Z\"}");
  bool online = false;
  assert_int_equal(shoal_presence_decode(text, strlen(text), &online, &d), SHOAL_OK);
  assert_true(online);
  free(text);
  /* The last will: what the agent used to snprintf. */
  const struct shoal_presence will = {.online = false, .device = "d1", .store = "s1", .at_ms = -1};
  assert_int_equal(shoal_presence_encode(&will, &text, &d), SHOAL_OK);
  assert_string_equal(text, "{\"online\":false,\"device\":\"d1\",\"store\":\"s1\"}");
  online = true;
  assert_int_equal(shoal_presence_decode(text, strlen(text), &online, &d), SHOAL_OK);
  assert_false(online);
  free(text);
  const struct shoal_presence nobody = {.online = true, .store = "s1", .at_ms = -1};
  text = NULL;
  assert_int_equal(shoal_presence_encode(&nobody, &text, &d), SHOAL_EINPUT);
  assert_null(text);
}

static shoal_err presence_dec(const char *text, size_t len) {
  bool online = true;
  shoal_diag d = {{0}};
  shoal_err rc = shoal_presence_decode(text, len, &online, &d);
  if (rc != SHOAL_OK) {
    assert_true(online); /* untouched */
    assert_true(d.msg[0] != '\0');
  }
  return rc;
}

static void test_wire_payloads_presence_decode_refuses_malformed(void **state) {
  (void)state;
#define P(s) presence_dec(s, strlen(s))
  assert_int_equal(P("{\"online\":false}"), SHOAL_OK);
  assert_int_equal(P("{\"online\":"), SHOAL_EJSON);
  assert_int_equal(P("\"online\""), SHOAL_EINPUT);
  assert_int_equal(P("{\"device\":\"d1\"}"), SHOAL_EINPUT);  /* no online */
  assert_int_equal(P("{\"online\":\"yes\"}"), SHOAL_EINPUT); /* not a boolean */
  assert_int_equal(P("{\"online\":true,\"online\":false}"), SHOAL_EJSON);
#undef P
  char big[SHOAL_PRESENCE_MAX_BYTES + 1];
  memset(big, ' ', sizeof big);
  assert_int_equal(presence_dec(big, sizeof big), SHOAL_ELIMIT);
}

/* ---- hello ---- */

static char *print(const cJSON *o) {
  char *t = cJSON_PrintUnformatted(o);
  assert_non_null(t);
  return t;
}

/* The connect hello, in the key order agents have always sent; the
 * replayed hello carries identity only. Both read back. */
static void test_wire_payloads_hello_bytes_and_round_trip(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  cJSON *status = NULL;
  const char *st = "{\"policies\":{\"global\":3,\"store/s1\":null},\"pending_policies\":[],"
                   "\"stale\":false}";
  assert_int_equal(shoal_json_parse(st, strlen(st), &status, &d), SHOAL_OK);
  const char *serves[] = {"s1", "s2"};
  const struct shoal_hello h = {.profile = "pos-terminal",
                                .region = "cn-sw",
                                .agent_version = "1.2.3",
                                .modules = SHOAL_MOD_PRICING | SHOAL_MOD_TICKETS,
                                .serves = serves,
                                .nserves = 2,
                                .status = status,
                                .outbox_pending = 4,
                                .acked = 17};
  cJSON *body = NULL;
  assert_int_equal(shoal_hello_encode(&h, &body, &d), SHOAL_OK);
  char *text = print(body);
  assert_string_equal(text, "{\"profile\":\"pos-terminal\",\"region\":\"cn-sw\",\"modules\":"
                            "[\"pricing\",\"tickets\"],\"agent_version\":\"1.2.3\",\"serves\":"
                            "[\"s1\",\"s2\"],\"policies\":{\"global\":3,\"store/s1\":null},"
                            "\"pending_policies\":[],\"stale\":false,\"outbox_pending\":4,"
                            "\"acked\":17}");
  free(text);
  struct shoal_hello_info info;
  assert_int_equal(shoal_hello_decode(body, &info, &d), SHOAL_OK);
  assert_string_equal(info.profile, "pos-terminal");
  assert_string_equal(info.region, "cn-sw");
  assert_string_equal(info.agent_version, "1.2.3");
  assert_int_equal(info.outbox_depth, 4);
  assert_non_null(info.policies);
  assert_int_equal(cJSON_GetArraySize(info.policies), 2);
  const char *stores[SHOAL_SERVES_MAX];
  size_t n = 0;
  bool present = false;
  assert_int_equal(shoal_hello_serves_decode(body, stores, &n, &present, &d), SHOAL_OK);
  assert_true(present);
  assert_int_equal(n, 2);
  assert_string_equal(stores[1], "s2");
  assert_int_equal(shoal_hello_acked(body), 17);
  cJSON_Delete(body);
  cJSON_Delete(status);

  const struct shoal_hello r = {
      .profile = "pos-terminal", .region = "cn-sw", .agent_version = "1.2.3", .replayed = true};
  assert_int_equal(shoal_hello_encode(&r, &body, &d), SHOAL_OK);
  text = print(body);
  assert_string_equal(text, "{\"profile\":\"pos-terminal\",\"region\":\"cn-sw\","
                            "\"agent_version\":\"1.2.3\",\"replayed\":true}");
  free(text);
  assert_int_equal(shoal_hello_decode(body, &info, &d), SHOAL_OK);
  assert_int_equal(info.outbox_depth, -1);
  assert_null(info.policies);
  assert_int_equal(shoal_hello_serves_decode(body, stores, &n, &present, &d), SHOAL_OK);
  assert_false(present);
  assert_int_equal(n, 0);
  assert_int_equal(shoal_hello_acked(body), -1);
  cJSON_Delete(body);

  body = NULL;
  const struct shoal_hello missing = {.profile = "p", .agent_version = "1"};
  assert_int_equal(shoal_hello_encode(&missing, &body, &d), SHOAL_EINPUT);
  assert_null(body);
}

/* Decodes text as a hello body; returns the code, checks the diag names
 * want when it fails. */
static shoal_err hello_dec(const char *text, const char *want) {
  cJSON *body = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_json_parse(text, strlen(text), &body, &d), SHOAL_OK);
  struct shoal_hello_info info = {.profile = "untouched"};
  shoal_err rc = shoal_hello_decode(body, &info, &d);
  if (rc == SHOAL_OK) {
    const char *stores[SHOAL_SERVES_MAX];
    size_t n = 0;
    bool present = false;
    rc = shoal_hello_serves_decode(body, stores, &n, &present, &d);
  } else {
    assert_string_equal(info.profile, "untouched");
  }
  if (rc != SHOAL_OK)
    assert_non_null(strstr(d.msg, want));
  cJSON_Delete(body);
  return rc;
}

static void test_wire_payloads_hello_decode_refuses_malformed(void **state) {
  (void)state;
  assert_int_equal(hello_dec("{}", ""), SHOAL_OK); /* every field is optional */
  assert_int_equal(hello_dec("{\"version\":\"9\",\"outbox_depth\":0,\"versions\":{}}", ""),
                   SHOAL_OK); /* older spellings */
  assert_int_equal(hello_dec("{\"profile\":7}", "\"profile\""), SHOAL_EINPUT);
  char longp[200];
  snprintf(longp, sizeof longp, "{\"profile\":\"%0129d\"}", 0);
  assert_int_equal(hello_dec(longp, "\"profile\""), SHOAL_EINPUT);
  assert_int_equal(hello_dec("{\"region\":\"cn sw\"}", "\"region\""), SHOAL_EINPUT);
  assert_int_equal(hello_dec("{\"version\":[]}", "\"version\""), SHOAL_EINPUT);
  assert_int_equal(hello_dec("{\"outbox_pending\":-1}", "\"outbox_pending\""), SHOAL_EINPUT);
  assert_int_equal(hello_dec("{\"outbox_depth\":1.5}", "\"outbox_depth\""), SHOAL_EINPUT);
  assert_int_equal(hello_dec("{\"policies\":[]}", "\"policies\""), SHOAL_EINPUT);
  assert_int_equal(hello_dec("{\"policy_versions\":{\"global\":\"3\"}}", "\"global\""),
                   SHOAL_EINPUT);
  assert_int_equal(hello_dec("{\"serves\":\"s1\"}", "\"serves\""), SHOAL_EINPUT);
  assert_int_equal(hello_dec("{\"serves\":[\"s1\",\"bad id\"]}", "\"serves\""), SHOAL_EINPUT);
  char many[1024];
  int k = snprintf(many, sizeof many, "{\"serves\":[");
  for (int i = 0; i <= SHOAL_SERVES_MAX; i++)
    k += snprintf(many + k, sizeof many - (size_t)k, "%s\"s%d\"", i ? "," : "", i);
  snprintf(many + k, sizeof many - (size_t)k, "]}");
  assert_int_equal(hello_dec(many, "at most"), SHOAL_EINPUT);
  cJSON *arr = cJSON_CreateArray();
  struct shoal_hello_info info;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_hello_decode(arr, &info, &d), SHOAL_EINPUT);
  cJSON_Delete(arr);
  cJSON *body = NULL;
  assert_int_equal(shoal_json_parse("{\"acked\":\"x\"}", 13, &body, &d), SHOAL_OK);
  assert_int_equal(shoal_hello_acked(body), -1);
  cJSON_Delete(body);
}

/* ---- sale and return bodies ---- */

static cJSON *parse_obj(const char *text) {
  cJSON *o = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_json_parse(text, strlen(text), &o, &d), SHOAL_OK);
  return o;
}

/* An envelope of store s1 around body (consumed). */
static struct shoal_event envelope(const char *type, cJSON *body) {
  struct shoal_event ev = {.seq = 1, .hlc = 1, .body = body};
  snprintf(ev.device, sizeof ev.device, "d1");
  snprintf(ev.store, sizeof ev.store, "s1");
  snprintf(ev.epoch, sizeof ev.epoch, "9");
  snprintf(ev.type, sizeof ev.type, "%s", type);
  return ev;
}

static const char *RECEIPT =
    "{\"id\":\"s1-d1-000001\",\"store\":\"s1\",\"region\":\"cn-sw\",\"device\":\"d1\","
    "\"at\":\"2026-03-01T10:00:00+08:00\",\"channel\":\"pos\",\"currency\":\"CNY\","
    "\"subtotal\":1000,\"discount\":100,\"rounding\":-5,\"total\":895,\"lines\":[{\"sku\":\"A\"}],"
    "\"member\":{\"id\":\"m1\",\"earned\":8}}";

/* The sale body as agents have always sent it (receipt, then receipt id,
 * customer, policy versions of the scopes that have one, and the member
 * code's nonce inside "member"), and the hub reads it back. */
static void test_wire_payloads_sale_bytes_and_round_trip(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  cJSON *receipt = parse_obj(RECEIPT);
  cJSON *customer = parse_obj("{\"id\":\"c1\"}");
  const char *scopes[3] = {"global", "region/cn-sw", "store/s1"};
  const int64_t versions[3] = {3, 0, 7};
  cJSON *body = NULL;
  assert_int_equal(
      shoal_sale_body_encode(receipt, customer, scopes, versions, 3, "n0nce", &body, &d), SHOAL_OK);
  char *text = print(body);
  assert_string_equal(
      text, "{\"id\":\"s1-d1-000001\",\"store\":\"s1\",\"region\":\"cn-sw\",\"device\":\"d1\","
            "\"at\":\"2026-03-01T10:00:00+08:00\",\"channel\":\"pos\",\"currency\":\"CNY\","
            "\"subtotal\":1000,\"discount\":100,\"rounding\":-5,\"total\":895,\"lines\":"
            "[{\"sku\":\"A\"}],\"member\":{\"id\":\"m1\",\"earned\":8,\"nonce\":\"n0nce\"},"
            "\"receipt\":\"s1-d1-000001\",\"customer\":{\"id\":\"c1\"},\"policy_versions\":"
            "{\"global\":3,\"store/s1\":7}}");
  free(text);
  struct shoal_event ev = envelope("sale", body);
  struct shoal_sale_info info;
  assert_int_equal(shoal_sale_decode(&ev, &info, &d), SHOAL_OK);
  assert_string_equal(info.receipt, "s1-d1-000001");
  assert_string_equal(info.region, "cn-sw");
  assert_true(info.at_ms == 1772330400000LL);
  assert_true(info.subtotal == 1000 && info.discount == 100 && info.rounding == -5 &&
              info.total == 895);
  shoal_event_cleanup(&ev);
  /* No customer, no nonce, no versions. */
  const int64_t none[3] = {0, 0, 0};
  assert_int_equal(shoal_sale_body_encode(receipt, NULL, scopes, none, 3, NULL, &body, &d),
                   SHOAL_OK);
  text = print(body);
  assert_non_null(strstr(text, "\"member\":{\"id\":\"m1\",\"earned\":8},\"receipt\":"
                               "\"s1-d1-000001\",\"policy_versions\":{}}"));
  free(text);
  cJSON_Delete(body);
  cJSON_Delete(customer);
  /* A receipt without an id, a nonce without a member block: refused. */
  body = NULL;
  cJSON_DeleteItemFromObject(receipt, "member");
  assert_int_equal(shoal_sale_body_encode(receipt, NULL, scopes, versions, 3, "n", &body, &d),
                   SHOAL_EINPUT);
  cJSON_DeleteItemFromObject(receipt, "id");
  assert_int_equal(shoal_sale_body_encode(receipt, NULL, scopes, versions, 3, NULL, &body, &d),
                   SHOAL_EINPUT);
  assert_null(body);
  cJSON_Delete(receipt);
}

/* Decodes RECEIPT with one member replaced by value (raw JSON; NULL
 * deletes it); checks the diag names want when it fails. */
static shoal_err sale_dec(const char *key, const char *value, const char *want) {
  cJSON *b = parse_obj(RECEIPT);
  cJSON_AddStringToObject(b, "receipt", "r1");
  if (key) {
    cJSON_DeleteItemFromObject(b, key);
    if (value)
      cJSON_AddItemToObject(b, key, parse_obj(value));
  }
  struct shoal_event ev = envelope("sale", b);
  struct shoal_sale_info info = {.receipt = "untouched"};
  shoal_diag d = {{0}};
  shoal_err rc = shoal_sale_decode(&ev, &info, &d);
  if (rc != SHOAL_OK) {
    assert_string_equal(info.receipt, "untouched");
    assert_non_null(strstr(d.msg, want));
  }
  shoal_event_cleanup(&ev);
  return rc;
}

static void test_wire_payloads_sale_decode_refuses_malformed(void **state) {
  (void)state;
  assert_int_equal(sale_dec(NULL, NULL, ""), SHOAL_OK);
  assert_int_equal(sale_dec("receipt", NULL, "receipt"), SHOAL_EINPUT);
  assert_int_equal(sale_dec("receipt", "\"\"", "receipt"), SHOAL_EINPUT);
  assert_int_equal(sale_dec("region", "\"cn sw\"", "region"), SHOAL_EINPUT);
  assert_int_equal(sale_dec("store", "\"s2\"", "store \"s2\""), SHOAL_EINPUT);
  assert_int_equal(sale_dec("at", "\"yesterday\"", "\"at\""), SHOAL_EINPUT);
  assert_int_equal(sale_dec("total", "896", "total 896"), SHOAL_EINPUT);
  assert_int_equal(sale_dec("total", "1.5", "total"), SHOAL_EINPUT);
  assert_int_equal(sale_dec("discount", "2000000000000000", "out of range"), SHOAL_EINPUT);
  assert_int_equal(sale_dec("lines", "{}", "lines"), SHOAL_EINPUT);
  assert_int_equal(sale_dec("lines", "[1]", "lines[0]"), SHOAL_EINPUT);
}

static const char *RETURN = "{\"id\":\"ret-1\",\"sale\":\"s1-d1-000001\",\"at\":"
                            "\"2026-03-02T10:00:00Z\",\"refund\":300,\"lines\":[{\"sku\":\"A\"}],"
                            "\"refunds\":[{\"method\":\"cash\",\"amount\":100},"
                            "{\"method\":\"card\",\"amount\":200}]}";

static void test_wire_payloads_return_bytes_and_round_trip(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  cJSON *ret = parse_obj(RETURN), *body = NULL;
  assert_int_equal(
      shoal_return_body_encode(ret, "s1", "cn-sw", "2026-03-01T10:00:00+08:00", &body, &d),
      SHOAL_OK);
  char *text = print(body);
  char want[1024];
  snprintf(want, sizeof want,
           "%.*s,\"store\":\"s1\",\"region\":\"cn-sw\",\"sale_at\":"
           "\"2026-03-01T10:00:00+08:00\"}",
           (int)strlen(RETURN) - 1, RETURN);
  assert_string_equal(text, want);
  free(text);
  cJSON_Delete(ret);
  struct shoal_event ev = envelope("return", body);
  struct shoal_return_info info;
  assert_int_equal(shoal_return_decode(&ev, &info, &d), SHOAL_OK);
  assert_string_equal(info.id, "ret-1");
  assert_string_equal(info.sale, "s1-d1-000001");
  assert_true(info.refund == 300);
  assert_true(info.at_ms == 1772445600000LL);
  shoal_event_cleanup(&ev);
}

static shoal_err return_dec(const char *key, const char *value, const char *want) {
  cJSON *b = parse_obj(RETURN);
  cJSON_AddStringToObject(b, "store", "s1");
  if (key) {
    cJSON_DeleteItemFromObject(b, key);
    if (value)
      cJSON_AddItemToObject(b, key, parse_obj(value));
  }
  struct shoal_event ev = envelope("return", b);
  struct shoal_return_info info = {.id = "untouched"};
  shoal_diag d = {{0}};
  shoal_err rc = shoal_return_decode(&ev, &info, &d);
  if (rc != SHOAL_OK) {
    assert_string_equal(info.id, "untouched");
    assert_non_null(strstr(d.msg, want));
  }
  shoal_event_cleanup(&ev);
  return rc;
}

static void test_wire_payloads_return_decode_refuses_malformed(void **state) {
  (void)state;
  assert_int_equal(return_dec(NULL, NULL, ""), SHOAL_OK);
  assert_int_equal(return_dec("sale", NULL, "sale"), SHOAL_EINPUT);
  assert_int_equal(return_dec("id", "\"\"", "\"id\""), SHOAL_EINPUT);
  assert_int_equal(return_dec("store", "\"s2\"", "store \"s2\""), SHOAL_EINPUT);
  assert_int_equal(return_dec("at", "\"soon\"", "\"at\""), SHOAL_EINPUT);
  assert_int_equal(return_dec("refund", "-1", "out of range"), SHOAL_EINPUT);
  assert_int_equal(return_dec("refund", "301", "add up to 300"), SHOAL_EINPUT);
  assert_int_equal(return_dec("lines", "{}", "arrays"), SHOAL_EINPUT);
  assert_int_equal(return_dec("refunds", "[{\"amount\":0}]", "amount"), SHOAL_EINPUT);
  /* A device cannot overflow the refunds' sum: at most 16 entries, and the
   * running sum stays within the money limit (10^15). */
  char many[2048] = "[";
  for (int i = 0; i < 17; i++)
    strcat(many, i ? ",{\"method\":\"cash\",\"amount\":1}" : "{\"method\":\"cash\",\"amount\":1}");
  strcat(many, "]");
  assert_int_equal(return_dec("refunds", many, "more than 16"), SHOAL_EINPUT);
  assert_int_equal(return_dec("refunds",
                              "[{\"method\":\"cash\",\"amount\":1000000000000000},"
                              "{\"method\":\"card\",\"amount\":1000000000000000}]",
                              "money limit"),
                   SHOAL_EINPUT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wire_payloads_ack_bytes_and_round_trip),
      cmocka_unit_test(test_wire_payloads_ack_encode_refuses_bad_input),
      cmocka_unit_test(test_wire_payloads_ack_decode_refuses_malformed),
      cmocka_unit_test(test_wire_payloads_presence_bytes_and_round_trip),
      cmocka_unit_test(test_wire_payloads_presence_decode_refuses_malformed),
      cmocka_unit_test(test_wire_payloads_hello_bytes_and_round_trip),
      cmocka_unit_test(test_wire_payloads_hello_decode_refuses_malformed),
      cmocka_unit_test(test_wire_payloads_sale_bytes_and_round_trip),
      cmocka_unit_test(test_wire_payloads_sale_decode_refuses_malformed),
      cmocka_unit_test(test_wire_payloads_return_bytes_and_round_trip),
      cmocka_unit_test(test_wire_payloads_return_decode_refuses_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
