/* checkout.h - the pure arithmetic and policy of checkout (SPEC 12), used
 * by agent and hub alike: the checkout policy keys (payments, utc_offset,
 * loyalty), VAT included per line, payment checks with cash change, strict
 * basket text, and exact refunds for returns. No I/O, no globals; money is
 * int64 minor units. Invariant kept by the refund functions: however the
 * units of a sale are returned, in any split and order, the refunds add up
 * to each line's total and to the sale's total (rounding included). */
#ifndef SHOAL_CHECKOUT_H
#define SHOAL_CHECKOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"
#include "shoal/pricing.h"
#include "shoal/shoal_limits.h"

#define SHOAL_PAYMENT_METHODS_MAX 16 /* allowed methods in a policy; payments in a basket */
#define SHOAL_SALE_SKEW_MS        (10 * 60 * 1000) /* a sale's given "at" vs the device clock */

/* Checkout settings of a scope chain, most specific scope winning per key. */
struct shoal_checkout_policy {
  char methods[SHOAL_PAYMENT_METHODS_MAX][SHOAL_ID_MAX + 1]; /* allowed payment methods */
  size_t nmethods;
  int utc_offset_min; /* store local time: "+08:00" -> 480 */
  bool has_loyalty;
  int64_t earn_per, redeem_value, code_ttl_s, grace_s; /* SPEC 13, when has_loyalty */
};

/* Validates a document's "payments", "utc_offset" and "loyalty" (SPEC 12,
 * 13). Called by shoal_policy_validate_json. SHOAL_EINPUT naming the key. */
shoal_err shoal_checkout_validate_doc(const cJSON *doc, shoal_diag *diag);

/* Builds the checkout policy from n chain documents, least specific first
 * (NULL where a scope has none; each already validated). Defaults:
 * payments cash/card/wechat/alipay, utc_offset +00:00; "points" is allowed
 * when loyalty is set. */
shoal_err shoal_checkout_policy_build(const cJSON *const *docs, size_t n,
                                      struct shoal_checkout_policy *out, shoal_diag *diag);

/* Whether method is allowed by p. */
bool shoal_checkout_method_allowed(const struct shoal_checkout_policy *p, const char *method);

/* Parses "+08:00" / "-05:30" / "Z"-less offsets into minutes; false if
 * malformed (hours 0..14, minutes 0..59). */
bool shoal_utc_offset_parse(const char *s, int *minutes);

/* Formats unix_ms as ISO 8601 in local time at offset_min, with seconds
 * and the offset ("2026-12-05T22:08:06+08:00"); buf >= 32 bytes. */
void shoal_time_format_local(int64_t unix_ms, int offset_min, char *buf, size_t bufsz);

/* VAT included in a line total: total x tax_bp / (10000 + tax_bp), rounded
 * half up. total >= 0, tax_bp in 0..10000. */
int64_t shoal_tax_included(int64_t total, int64_t tax_bp);

/* One payment or refund: a method and an amount. */
struct shoal_payment {
  char method[SHOAL_ID_MAX + 1];
  int64_t amount;
};

/* Checks payments against a total (SPEC 12): every method allowed, amounts
 * > 0, sum == total except that cash may exceed it (change = the excess,
 * never more than the cash given). *change set on success. SHOAL_EINPUT
 * naming the problem. */
shoal_err shoal_payments_check(const struct shoal_checkout_policy *p,
                               const struct shoal_payment *pay, size_t n, int64_t total,
                               int64_t *change, shoal_diag *diag);

/* Parses a JSON array of {"method", "amount"} (what names it in errors)
 * into out (at most SHOAL_PAYMENT_METHODS_MAX). Unknown keys, non-integer
 * or non-positive amounts are SHOAL_EINPUT. */
shoal_err shoal_payments_parse(const cJSON *arr, const char *what, struct shoal_payment *out,
                               size_t *n, shoal_diag *diag);

/* The JSON array of payments; NULL on OOM. */
cJSON *shoal_payments_to_json(const struct shoal_payment *pay, size_t n);

/* Parses a basket from its TEXT, strictly (SPEC 5.1 + 12): a number with a
 * fraction or exponent anywhere in a basket is refused naming its key
 * ("qty" written 2.0), then shoal_basket_parse. SHOAL_EJSON for bad JSON. */
shoal_err shoal_basket_parse_text(const char *text, size_t len, struct shoal_basket **out,
                                  shoal_diag *diag);

/* Refuses (SHOAL_EINPUT naming the key) a number written with a fraction
 * or exponent anywhere in the JSON text: what="basket", "return" ... */
shoal_err shoal_checkout_text_integers(const char *text, size_t len, const char *what,
                                       shoal_diag *diag);

/* ---- refunds ---- */

/* One line of a sale as a return sees it. */
struct shoal_refund_line {
  int64_t qty, total; /* sold: units and the line's total (SPEC 5.3) */
  int64_t returned;   /* units returned before this return */
  int64_t want;       /* units this return takes back (0: none) */
  int64_t refund;     /* OUT: what those units refund, before the sale's rounding */
};

/* Computes a return's refund (SPEC 12). Line refund = L(returned + want) -
 * L(returned) with L(u) = floor(total x u / qty): per-unit shares, and the
 * last unit refunds exactly what remains of the line. The sale's rounding
 * (sale_total - sum of line totals) is refunded in proportion to the value
 * returned, G(V) = floor(V x sale_total / sum of line totals) over the
 * sale's cumulative returned value V, so returning everything refunds
 * sale_total exactly. *refund = G(after) - G(before); *rounding = *refund -
 * sum of line refunds. want > qty - returned is SHOAL_EINPUT naming line i. */
shoal_err shoal_refund_compute(int64_t sale_total, struct shoal_refund_line *lines, size_t n,
                               int64_t *refund, int64_t *rounding, shoal_diag *diag);

/* Splits refund over what the sale's payments still hold (net[i]: method
 * paid minus change minus refunded so far), largest first (ties: payment
 * order). out has room for n entries; *nout set. SHOAL_EINPUT if the
 * payments cannot cover the refund. */
shoal_err shoal_refund_default(const struct shoal_payment *net, size_t n, int64_t refund,
                               struct shoal_payment *out, size_t *nout, shoal_diag *diag);

#endif
