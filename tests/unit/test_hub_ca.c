/* test_hub_ca.c - the device CA (hub/hub_ca.c): created once and reloaded,
 * device certificates chain to it with CN = the device id, identifiers that
 * could reach a topic are refused, the hub's identity is not a device id,
 * certificates from another CA and half-present CA files are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub_ca.h"
#include "shoal/crypto.h"
#include "shoal/util.h"
#include "test_util.h"

static void ca_paths(const char *name, char cert[1100], char key[1100]) {
  snprintf(cert, 1100, "%s/%s.crt", test_tmpdir(), name);
  snprintf(key, 1100, "%s/%s.key", test_tmpdir(), name);
}

static void test_hub_ca_created_once_then_reloaded(void **state) {
  (void)state;
  char cert[1100], key[1100];
  ca_paths("ca-once", cert, key);
  struct hub_ca *ca = NULL;
  bool created = false;
  shoal_diag d = {{0}};
  assert_int_equal(hub_ca_open(cert, key, &ca, &created, &d), SHOAL_OK);
  assert_true(created);
  char *first = strdup(hub_ca_cert_pem(ca));
  hub_ca_free(ca);
  assert_int_equal(hub_ca_open(cert, key, &ca, &created, &d), SHOAL_OK);
  assert_false(created);
  assert_string_equal(hub_ca_cert_pem(ca), first); /* the same CA, never a new one */
  hub_ca_free(ca);
  free(first);
}

static void test_hub_ca_device_cert_chains_with_device_cn(void **state) {
  (void)state;
  char cert[1100], key[1100];
  ca_paths("ca-dev", cert, key);
  struct hub_ca *ca = NULL;
  bool created;
  shoal_diag d = {{0}};
  assert_int_equal(hub_ca_open(cert, key, &ca, &created, &d), SHOAL_OK);
  char *crt = NULL, *k = NULL, serial[33];
  assert_int_equal(
      hub_ca_issue(ca, HUB_CERT_DEVICE, "pos-1.cd_001", NULL, 0, 30, &crt, &k, serial, &d),
      SHOAL_OK);
  assert_int_equal(strlen(serial), 32);
  assert_non_null(strstr(crt, "BEGIN CERTIFICATE"));
  assert_non_null(strstr(k, "PRIVATE KEY"));
  assert_int_equal(hub_ca_verify(ca, crt, "pos-1.cd_001", &d), SHOAL_OK);
  assert_int_equal(hub_ca_verify(ca, crt, "pos-2", &d), SHOAL_ESIG); /* CN is the identity */
  free(crt);
  shoal_secure_free(k);
  /* The hub's identity is fixed and is not a valid device id. */
  assert_int_equal(hub_ca_issue(ca, HUB_CERT_HUB, "anything", NULL, 0, 30, &crt, &k, serial, &d),
                   SHOAL_OK);
  assert_int_equal(hub_ca_verify(ca, crt, HUB_CA_HUB_IDENTITY, &d), SHOAL_OK);
  assert_false(shoal_id_valid(HUB_CA_HUB_IDENTITY));
  free(crt);
  shoal_secure_free(k);
  hub_ca_free(ca);
}

static void test_hub_ca_refuses_ids_that_could_reach_a_topic(void **state) {
  (void)state;
  char cert[1100], key[1100];
  ca_paths("ca-bad", cert, key);
  struct hub_ca *ca = NULL;
  bool created;
  shoal_diag d = {{0}};
  assert_int_equal(hub_ca_open(cert, key, &ca, &created, &d), SHOAL_OK);
  char long_id[80];
  memset(long_id, 'x', 65);
  long_id[65] = '\0';
  const char *bad[] = {"a/b", "s1/+", "#", "", "-lead", "hub@shoal", "a,O=evil", long_id};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *crt = NULL, *k = NULL, serial[33];
    assert_int_equal(hub_ca_issue(ca, HUB_CERT_DEVICE, bad[i], NULL, 0, 30, &crt, &k, serial, &d),
                     SHOAL_EINPUT);
    assert_null(crt);
  }
  hub_ca_free(ca);
}

static void test_hub_ca_foreign_cert_and_half_ca_refused(void **state) {
  (void)state;
  char c1[1100], k1[1100], c2[1100], k2[1100];
  ca_paths("ca-one", c1, k1);
  ca_paths("ca-two", c2, k2);
  struct hub_ca *one = NULL, *two = NULL;
  bool created;
  shoal_diag d = {{0}};
  assert_int_equal(hub_ca_open(c1, k1, &one, &created, &d), SHOAL_OK);
  assert_int_equal(hub_ca_open(c2, k2, &two, &created, &d), SHOAL_OK);
  char *crt = NULL, *k = NULL, serial[33];
  assert_int_equal(hub_ca_issue(two, HUB_CERT_DEVICE, "pos-1", NULL, 0, 30, &crt, &k, serial, &d),
                   SHOAL_OK);
  assert_int_equal(hub_ca_verify(one, crt, "pos-1", &d), SHOAL_ESIG);
  free(crt);
  shoal_secure_free(k);
  hub_ca_free(one);
  hub_ca_free(two);
  /* Only the certificate left: refuse rather than mint a different CA. */
  assert_int_equal(remove(k1), 0);
  assert_int_equal(hub_ca_open(c1, k1, &one, &created, &d), SHOAL_ECONFIG);
}

static void test_hub_ca_server_cert_names(void **state) {
  (void)state;
  char cert[1100], key[1100];
  ca_paths("ca-srv", cert, key);
  struct hub_ca *ca = NULL;
  bool created;
  shoal_diag d = {{0}};
  assert_int_equal(hub_ca_open(cert, key, &ca, &created, &d), SHOAL_OK);
  const char *sans[] = {"127.0.0.1", "::1", "localhost", "broker.example"};
  char *crt = NULL, *k = NULL, serial[33];
  assert_int_equal(
      hub_ca_issue(ca, HUB_CERT_SERVER, "127.0.0.1", sans, 4, 30, &crt, &k, serial, &d), SHOAL_OK);
  assert_int_equal(hub_ca_verify(ca, crt, "127.0.0.1", &d), SHOAL_OK);
  free(crt);
  shoal_secure_free(k);
  const char *evil[] = {"a,CN=x"};
  assert_int_equal(hub_ca_issue(ca, HUB_CERT_SERVER, "h", evil, 1, 30, &crt, &k, serial, &d),
                   SHOAL_EINPUT);
  hub_ca_free(ca);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hub_ca_created_once_then_reloaded),
      cmocka_unit_test(test_hub_ca_device_cert_chains_with_device_cn),
      cmocka_unit_test(test_hub_ca_refuses_ids_that_could_reach_a_topic),
      cmocka_unit_test(test_hub_ca_foreign_cert_and_half_ca_refused),
      cmocka_unit_test(test_hub_ca_server_cert_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
