/* rng.h - a CTR-DRBG seeded from the system entropy source, for the code
 * that calls mbedTLS directly (key generation, signing, the device CA).
 * One per operation keeps the library free of global state. */
#ifndef SHOAL_RNG_H
#define SHOAL_RNG_H

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

#include "shoal/err.h"

struct shoal_rng {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg; /* pass mbedtls_ctr_drbg_random, &r->drbg */
};

/* Seeds r with personalization string pers. r is initialised even on
 * failure, so shoal_rng_free(r) is always the matching call.
 * SHOAL_ECRYPTO if the entropy source fails. */
shoal_err shoal_rng_init(struct shoal_rng *r, const char *pers, shoal_diag *diag);

/* Releases r (after shoal_rng_init, whatever it returned). */
void shoal_rng_free(struct shoal_rng *r);

#endif
