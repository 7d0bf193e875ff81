/* err.h - the one error type of Shoal, made from one X-macro table.
 * Codes are positive, append-only and never renumbered; each carries the
 * process exit code of SPEC section 2 so every command maps errors the same way.
 * A shoal_diag carries the human sentence naming the problem alongside. */
#ifndef SHOAL_ERR_H
#define SHOAL_ERR_H

#include <stddef.h>

/*         name               exit  text */
#define SHOAL_ERR_TABLE(X)                                                                         \
  X(SHOAL_OK, 0, "ok")                                                                             \
  X(SHOAL_ENOMEM, 1, "out of memory")                                                              \
  X(SHOAL_EUSAGE, 2, "usage error")                                                                \
  X(SHOAL_EINPUT, 3, "invalid input")                                                              \
  X(SHOAL_EJSON, 3, "malformed JSON")                                                              \
  X(SHOAL_ENOTFOUND, 3, "not found")                                                               \
  X(SHOAL_ELIMIT, 3, "limit exceeded")                                                             \
  X(SHOAL_ECONFIG, 3, "invalid configuration")                                                     \
  X(SHOAL_EIO, 1, "I/O error")                                                                     \
  X(SHOAL_EDB, 1, "database error")                                                                \
  X(SHOAL_EMQTT, 1, "broker error")                                                                \
  X(SHOAL_ECRYPTO, 1, "cryptography error")                                                        \
  X(SHOAL_ESIG, 4, "bad signature")                                                                \
  X(SHOAL_EROLLBACK, 4, "rollback refused")                                                        \
  X(SHOAL_EEXPIRED, 4, "expired")                                                                  \
  X(SHOAL_ESCOPE, 4, "foreign scope or store")                                                     \
  X(SHOAL_EMODULE, 2, "module not in this device's profile")                                       \
  X(SHOAL_ESTATE, 1, "invalid state")                                                              \
  X(SHOAL_EFULL, 1, "storage full")                                                                \
  X(SHOAL_ETIMEOUT, 1, "timed out")                                                                \
  X(SHOAL_EINTERNAL, 1, "internal error")                                                          \
  X(SHOAL_ECONFLICT, 3, "conflict")

typedef enum shoal_err {
#define SHOAL__ERR_ENUM(name, exitcode, text) name,
  SHOAL_ERR_TABLE(SHOAL__ERR_ENUM)
#undef SHOAL__ERR_ENUM
      SHOAL__ERR_COUNT
} shoal_err;

/* Short English text for an error code; never NULL. */
const char *shoal_err_str(shoal_err err);

/* Process exit code (SPEC section 2) for an error code: 0, 1, 2, 3 or 4. */
int shoal_err_exit_code(shoal_err err);

/* A sentence that names the problem ("unknown SKU XX-1"), filled by the
 * function that failed. Callers own it (usually on the stack). */
#define SHOAL_DIAG_MAX 512
typedef struct shoal_diag {
  char msg[SHOAL_DIAG_MAX];
} shoal_diag;

/* Sets diag->msg (if diag is not NULL) from a printf format and returns err,
 * so a failing path can say `return shoal_fail(diag, SHOAL_EINPUT, ...)`. */
shoal_err shoal_fail(shoal_diag *diag, shoal_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes diag->msg with "prefix: " (for context added by callers). */
void shoal_diag_prefix(shoal_diag *diag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
