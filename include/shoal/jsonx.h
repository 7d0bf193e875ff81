/* jsonx.h - strict accessors over cJSON for reading untrusted documents.
 * Integers must be JSON numbers with no fraction and within int64 range
 * (cJSON stores numbers as double, so magnitudes above 2^53 are refused);
 * a wrong type is an error naming the key, never a silent default. */
#ifndef SHOAL_JSONX_H
#define SHOAL_JSONX_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"

/* Parses text (len bytes, need not be NUL-terminated) into a tree; the caller
 * frees it with cJSON_Delete. Errors name the byte offset of the problem.
 * Refuses NUL, invalid UTF-8 and duplicate keys (shoal_json_check_text,
 * shoal_json_check_keys). The value of any "hlc" key is delivered as a string of digits (exact
 * 64-bit); read it with shoal_json_get_u64. */
shoal_err shoal_json_parse(const char *text, size_t len, cJSON **out, shoal_diag *diag);

/* The checks shoal_json_parse makes before and after cJSON, for the few
 * callers that run cJSON themselves. check_text refuses (SHOAL_EJSON) a
 * NUL byte anywhere, a string holding \u0000 (C would cut it there),
 * control characters in strings and any byte sequence that is not UTF-8.
 * check_keys refuses an object naming one key twice, compared after
 * unescaping ("sku" and "\u0073ku"), in item and everything below it and
 * its siblings: a document is validated with one value and stored with
 * another otherwise. */
shoal_err shoal_json_check_text(const char *text, size_t len, shoal_diag *diag);

/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing past U+10FFFF). */
bool shoal_utf8_valid(const char *s, size_t len);
shoal_err shoal_json_check_keys(const cJSON *item, shoal_diag *diag);

/* Reads a file (or "-") of at most max_bytes and parses it. what names it in errors. */
shoal_err shoal_json_load_file(const char *path, size_t max_bytes, cJSON **out, shoal_diag *diag);

/* True if item is a number holding an exact integer in [-2^53, 2^53]. */
bool shoal_json_is_int(const cJSON *item);

/* Integer value of an item that passed shoal_json_is_int. */
int64_t shoal_json_int(const cJSON *item);

/* Field accessors on object obj. "name" is used in the error message.
 * _req: missing is an error. _opt: missing leaves *out untouched and returns OK.
 * Wrong type is always SHOAL_EINPUT. Strings are borrowed from the tree. */
shoal_err shoal_json_get_int(const cJSON *obj, const char *key, bool required, int64_t *out,
                             shoal_diag *diag);
shoal_err shoal_json_get_str(const cJSON *obj, const char *key, bool required, const char **out,
                             shoal_diag *diag);
shoal_err shoal_json_get_bool(const cJSON *obj, const char *key, bool required, bool *out,
                              shoal_diag *diag);

/* Reads an unsigned 64-bit integer exactly: from a number up to 2^53, or
 * from a string of decimal digits (the parser turns every "hlc" value into
 * one, see shoal_json_parse). */
shoal_err shoal_json_get_u64(const cJSON *obj, const char *key, bool required, uint64_t *out,
                             shoal_diag *diag);

/* The one JSON skipper, for callers that walk text cJSON has already
 * parsed (to keep a value's exact bytes): p must point at the first byte of
 * a value (a string, object, array or scalar; no leading whitespace) inside
 * [p, end). Returns the byte just past that value, or NULL when the text
 * ends first (an unterminated string or container), p is not the start of
 * a value, or containers nest deeper than SHOAL_JSON_MAX_DEPTH. It finds
 * boundaries only, it does not validate: brackets are counted, strings
 * (with their escapes) skipped whole. Reads only [p, end); allocates
 * nothing. */
const char *shoal_json_skip_value(const char *p, const char *end);

/* A JSON number node printing v exactly (a raw node); NULL on OOM. */
cJSON *shoal_json_u64(uint64_t v);

/* Serialises without whitespace; caller frees with free(). NULL on OOM. */
char *shoal_json_print(const cJSON *item);

/* Adds item to obj under key, taking ownership of item in every case: on
 * failure (obj or item NULL, or no memory for the key) item is deleted and
 * false returned. Lets a builder write `ok &= shoal_json_put(o, k, f(x));`
 * with nothing leaked and the failure seen. */
bool shoal_json_put(cJSON *obj, const char *key, cJSON *item);
/* The same for appending item to the array arr. */
bool shoal_json_push(cJSON *arr, cJSON *item);

#endif
