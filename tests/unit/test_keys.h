/* test_keys.h - throwaway ECDSA P-256 key pairs for unit tests: generated,
 * the private key written to the test's temp folder and loaded back the way
 * a device or hub loads its key file. Include after cmocka.h. */
#ifndef SHOAL_TEST_KEYS_H
#define SHOAL_TEST_KEYS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/crypto.h"
#include "test_util.h"

/* Makes the pair `name` (file <name>-key.pem). *priv is set; *pub too
 * unless pub is NULL; *pub_pem (caller frees) unless pub_pem is NULL. */
static inline void test_key_pair(const char *name, struct shoal_privkey **priv,
                                 struct shoal_pubkey **pub, char **pub_pem) {
  char *ps = NULL, *pubs = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_key_generate(&ps, &pubs, &d), SHOAL_OK);
  char fn[64];
  snprintf(fn, sizeof fn, "%s-key.pem", name);
  assert_int_equal(shoal_privkey_load(test_write_file(fn, ps), priv, &d), SHOAL_OK);
  if (pub)
    assert_int_equal(shoal_pubkey_parse(pubs, strlen(pubs), pub, &d), SHOAL_OK);
  shoal_secure_free(ps);
  if (pub_pem)
    *pub_pem = pubs;
  else
    free(pubs);
}

#endif
