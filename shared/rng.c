/* rng.c - the seeded CTR-DRBG (see rng.h); mbedTLS codes are translated here. */
#include "shoal/rng.h"

#include <string.h>

shoal_err shoal_rng_init(struct shoal_rng *r, const char *pers, shoal_diag *diag) {
  mbedtls_entropy_init(&r->entropy);
  mbedtls_ctr_drbg_init(&r->drbg);
  int m = mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
                                (const unsigned char *)pers, strlen(pers));
  if (m != 0)
    return shoal_fail(diag, SHOAL_ECRYPTO, "cannot seed the random generator (mbedtls -0x%04x)",
                      (unsigned)-m);
  return SHOAL_OK;
}

void shoal_rng_free(struct shoal_rng *r) {
  mbedtls_ctr_drbg_free(&r->drbg);
  mbedtls_entropy_free(&r->entropy);
}
