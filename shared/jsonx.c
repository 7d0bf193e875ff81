/* jsonx.c - strict cJSON accessors. */
#include "shoal/jsonx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/shoal_limits.h"
#include "shoal/util.h"

/* cJSON keeps numbers as doubles, exact only up to 2^53; an HLC needs 64
 * bits. Before parsing, the bare number value of every "hlc" key is wrapped
 * in quotes, so it arrives as a string that shoal_json_get_u64 reads
 * exactly. Returns a heap copy (caller frees) or NULL on OOM. */
static char *quote_hlc_values(const char *text, size_t len, size_t *out_len) {
  size_t extra = 0;
  for (size_t i = 0; i + 4 < len; i++)
    if (memcmp(text + i, "\"hlc\"", 5) == 0)
      extra += 2;
  char *out = malloc(len + extra + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  bool in_str = false, last_key_hlc = false, after_colon = false;
  size_t str_start = 0;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (in_str) {
      out[o++] = c;
      if (c == '\\' && i + 1 < len) {
        out[o++] = text[++i];
      } else if (c == '"') {
        in_str = false;
        last_key_hlc = (i - str_start == 4 && memcmp(text + str_start + 1, "hlc", 3) == 0);
      }
      continue;
    }
    if (c == '"') {
      in_str = true;
      str_start = i;
      after_colon = false;
      out[o++] = c;
      continue;
    }
    if (c == ':') {
      after_colon = last_key_hlc;
      out[o++] = c;
      continue;
    }
    if (after_colon && (c == '-' || (c >= '0' && c <= '9')) && extra >= 2) {
      size_t j = i;
      while (j < len && (text[j] == '-' || text[j] == '+' || text[j] == '.' || text[j] == 'e' ||
                         text[j] == 'E' || (text[j] >= '0' && text[j] <= '9')))
        j++;
      out[o++] = '"';
      memcpy(out + o, text + i, j - i);
      o += j - i;
      out[o++] = '"';
      extra -= 2;
      i = j - 1;
      after_colon = false;
      last_key_hlc = false;
      continue;
    }
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      after_colon = false;
      if (c != ':')
        last_key_hlc = false;
    }
    out[o++] = c;
  }
  out[o] = '\0';
  *out_len = o;
  return out;
}

/* Length of the UTF-8 sequence at p (at most n bytes left), 0 if it is not
 * one: overlong forms, surrogates and code points above U+10FFFF are not. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned char c = p[0];
  if (c < 0x80)
    return 1;
  size_t need;
  uint32_t cp, min;
  if ((c & 0xE0) == 0xC0) {
    need = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    need = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    need = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < need)
    return 0;
  for (size_t i = 1; i < need; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return need;
}

bool shoal_utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    size_t k = utf8_seq(p + i, len - i);
    if (!k)
      return false;
    i += k;
  }
  return true;
}

shoal_err shoal_json_check_text(const char *text, size_t len, shoal_diag *diag) {
  const unsigned char *s = (const unsigned char *)text;
  bool in_str = false;
  for (size_t i = 0; i < len;) {
    unsigned char c = s[i];
    if (c == 0)
      return shoal_fail(diag, SHOAL_EJSON, "malformed JSON: NUL byte at byte %zu", i);
    if (c >= 0x80) {
      size_t k = utf8_seq(s + i, len - i);
      if (!k)
        return shoal_fail(diag, SHOAL_EJSON, "malformed JSON: invalid UTF-8 at byte %zu", i);
      i += k;
      continue;
    }
    if (!in_str) {
      in_str = c == '"';
      i++;
      continue;
    }
    if (c < 0x20)
      return shoal_fail(diag, SHOAL_EJSON,
                        "malformed JSON: control character 0x%02x in a string at byte %zu", c, i);
    if (c == '"') {
      in_str = false;
    } else if (c == '\\' && i + 1 < len) {
      /* "\u0000" would reach C as the end of the string: "MT-001\u0000X"
       * read as "MT-001". Refused, as a raw NUL is. */
      if (s[i + 1] == 'u' && i + 6 <= len && memcmp(s + i + 2, "0000", 4) == 0)
        return shoal_fail(diag, SHOAL_EJSON,
                          "malformed JSON: a string holds NUL (\\u0000) at byte %zu", i);
      i++; /* the escaped character is never '"' that ends the string */
    }
    i++;
  }
  return SHOAL_OK;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

#define DUP_LINEAR_MAX 16 /* members compared pairwise; more are sorted */

/* The first member name of obj that appears twice (names are unescaped, so
 * "sku" and "\u0073ku" are the same), or NULL. */
static const char *object_dup(const cJSON *obj, shoal_err *rc) {
  int n = cJSON_GetArraySize(obj);
  *rc = SHOAL_OK;
  if (n < 2)
    return NULL;
  if (n <= DUP_LINEAR_MAX) {
    for (const cJSON *a = obj->child; a; a = a->next)
      for (const cJSON *b = a->next; b; b = b->next)
        if (strcmp(a->string, b->string) == 0)
          return a->string;
    return NULL;
  }
  const char **names = malloc((size_t)n * sizeof *names);
  if (!names) {
    *rc = SHOAL_ENOMEM;
    return NULL;
  }
  int i = 0;
  for (const cJSON *a = obj->child; a; a = a->next)
    names[i++] = a->string;
  qsort(names, (size_t)n, sizeof *names, name_cmp);
  const char *dup = NULL;
  for (i = 1; i < n && !dup; i++)
    if (strcmp(names[i - 1], names[i]) == 0)
      dup = names[i];
  free(names);
  return dup;
}

shoal_err shoal_json_check_keys(const cJSON *item, shoal_diag *diag) {
  /* cJSON's own nesting limit bounds this recursion. */
  for (; item; item = item->next) {
    if (cJSON_IsObject(item)) {
      shoal_err rc;
      const char *dup = object_dup(item, &rc);
      if (rc != SHOAL_OK)
        return shoal_fail(diag, rc, "out of memory checking JSON keys");
      if (dup)
        return shoal_fail(diag, SHOAL_EJSON, "malformed JSON: duplicate key \"%.64s\"", dup);
    }
    if ((cJSON_IsObject(item) || cJSON_IsArray(item)) && item->child) {
      shoal_err rc = shoal_json_check_keys(item->child, diag);
      if (rc != SHOAL_OK)
        return rc;
    }
  }
  return SHOAL_OK;
}

/* ---- a syntax check that allocates nothing ----
 * cJSON returns NULL both for malformed text and when an allocation fails.
 * When it does, shoal_json_parse runs this check over the same text: a
 * value that is well formed here (never more lenient than cJSON: RFC 8259
 * plus cJSON's nesting limit and its refusal of unpaired UTF-16
 * surrogates) failed for want of memory. */

static const char *syn_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

static int syn_hex4(const char *p, const char *end) {
  int v = 0;
  if (end - p < 4)
    return -1;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

static const char *syn_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"')
      return p + 1;
    if (c < 0x20)
      return NULL;
    if (c != '\\')
      continue;
    if (++p >= end)
      return NULL;
    if (*p && strchr("\"\\/bfnrt", *p))
      continue;
    if (*p != 'u')
      return NULL;
    int u = syn_hex4(p + 1, end);
    p += 4;
    if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
      return NULL;
    if (u >= 0xD800 && u <= 0xDBFF) { /* a high surrogate needs its low half */
      if (end - p < 7 || p[1] != '\\' || p[2] != 'u')
        return NULL;
      int lo = syn_hex4(p + 3, end);
      if (lo < 0xDC00 || lo > 0xDFFF)
        return NULL;
      p += 6;
    }
  }
  return NULL;
}

/* Numbers over 63 bytes are refused (cJSON 1.7 before .16 reads at most
 * 63 into a stack buffer): stricter is safe, it only means "malformed". */
static const char *syn_number(const char *p, const char *end) {
  const char *start = p;
  if (p < end && *p == '-')
    p++;
  if (p >= end || *p < '0' || *p > '9')
    return NULL;
  if (*p == '0')
    p++;
  else
    while (p < end && *p >= '0' && *p <= '9')
      p++;
  if (p < end && *p == '.') {
    if (++p >= end || *p < '0' || *p > '9')
      return NULL;
    while (p < end && *p >= '0' && *p <= '9')
      p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    if (++p < end && (*p == '+' || *p == '-'))
      p++;
    if (p >= end || *p < '0' || *p > '9')
      return NULL;
    while (p < end && *p >= '0' && *p <= '9')
      p++;
  }
  return p - start <= 63 ? p : NULL;
}

/* Past one well-formed value starting at p (no leading whitespace); NULL
 * if it is not one. */
static const char *syn_value(const char *p, const char *end, int depth) {
  static const char *const words[] = {"true", "false", "null"};
  if (p >= end)
    return NULL;
  if (*p == '"')
    return syn_string(p, end);
  if (*p == '-' || (*p >= '0' && *p <= '9'))
    return syn_number(p, end);
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(words[i]);
    if ((size_t)(end - p) >= n && memcmp(p, words[i], n) == 0)
      return p + n;
  }
  if ((*p != '{' && *p != '[') || depth >= CJSON_NESTING_LIMIT)
    return NULL;
  char close = *p == '{' ? '}' : ']';
  p = syn_ws(p + 1, end);
  if (p < end && *p == close)
    return p + 1;
  for (;;) {
    if (close == '}') {
      if (p >= end || *p != '"' || !(p = syn_string(p, end)))
        return NULL;
      p = syn_ws(p, end);
      if (p >= end || *p != ':')
        return NULL;
      p = syn_ws(p + 1, end);
    }
    if (!(p = syn_value(p, end, depth + 1)))
      return NULL;
    p = syn_ws(p, end);
    if (p < end && *p == close)
      return p + 1;
    if (p >= end || *p != ',')
      return NULL;
    p = syn_ws(p + 1, end);
  }
}

static bool syntax_ok(const char *text, size_t len) {
  const char *end = text + len;
  return syn_value(syn_ws(text, end), end, 0) != NULL;
}

shoal_err shoal_json_parse(const char *text, size_t len, cJSON **out, shoal_diag *diag) {
  const char *end = NULL;
  size_t qlen = 0;
  shoal_err crc = shoal_json_check_text(text, len, diag);
  if (crc != SHOAL_OK)
    return crc;
  char *quoted = quote_hlc_values(text, len, &qlen);
  if (!quoted)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory parsing JSON");
  /* Offsets below refer to the quoted copy; they differ from the input by
   * at most two bytes per "hlc" key before them. */
  text = quoted;
  len = qlen;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!root) {
    size_t off = end && end >= text ? (size_t)(end - text) : 0;
    bool oom = syntax_ok(text, len); /* well formed: cJSON ran out of memory */
    free(quoted);
    return oom ? shoal_fail(diag, SHOAL_ENOMEM, "out of memory parsing JSON")
               : shoal_fail(diag, SHOAL_EJSON, "malformed JSON near byte %zu", off);
  }
  /* Only whitespace may follow the value. */
  if (end) {
    const char *p = end;
    const char *stop = text + len;
    while (p < stop && *p && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
      p++;
    if (p < stop && *p) {
      cJSON_Delete(root);
      shoal_err rc = shoal_fail(diag, SHOAL_EJSON, "malformed JSON: trailing data at byte %zu",
                                (size_t)(p - text));
      free(quoted);
      return rc;
    }
  }
  free(quoted);
  shoal_err krc = shoal_json_check_keys(root, diag);
  if (krc != SHOAL_OK) {
    cJSON_Delete(root);
    return krc;
  }
  *out = root;
  return SHOAL_OK;
}

shoal_err shoal_json_load_file(const char *path, size_t max_bytes, cJSON **out, shoal_diag *diag) {
  char *text = NULL;
  size_t len = 0;
  shoal_err rc = shoal_file_read(path, max_bytes, &text, &len, diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = shoal_json_parse(text, len, out, diag);
  if (rc != SHOAL_OK)
    shoal_diag_prefix(diag, "%s", strcmp(path, "-") == 0 ? "standard input" : path);
  free(text);
  return rc;
}

bool shoal_json_is_int(const cJSON *item) {
  if (!cJSON_IsNumber(item))
    return false;
  double d = item->valuedouble;
  if (!isfinite(d) || d != floor(d))
    return false;
  return d >= -9007199254740992.0 && d <= 9007199254740992.0;
}

int64_t shoal_json_int(const cJSON *item) {
  return (int64_t)item->valuedouble;
}

shoal_err shoal_json_get_int(const cJSON *obj, const char *key, bool required, int64_t *out,
                             shoal_diag *diag) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it) {
    if (required)
      return shoal_fail(diag, SHOAL_EINPUT, "missing \"%s\"", key);
    return SHOAL_OK;
  }
  if (!shoal_json_is_int(it))
    return shoal_fail(diag, SHOAL_EINPUT, "\"%s\" must be an integer", key);
  *out = shoal_json_int(it);
  return SHOAL_OK;
}

shoal_err shoal_json_get_str(const cJSON *obj, const char *key, bool required, const char **out,
                             shoal_diag *diag) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it) {
    if (required)
      return shoal_fail(diag, SHOAL_EINPUT, "missing \"%s\"", key);
    return SHOAL_OK;
  }
  if (!cJSON_IsString(it))
    return shoal_fail(diag, SHOAL_EINPUT, "\"%s\" must be a string", key);
  *out = it->valuestring;
  return SHOAL_OK;
}

shoal_err shoal_json_get_bool(const cJSON *obj, const char *key, bool required, bool *out,
                              shoal_diag *diag) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it) {
    if (required)
      return shoal_fail(diag, SHOAL_EINPUT, "missing \"%s\"", key);
    return SHOAL_OK;
  }
  if (!cJSON_IsBool(it))
    return shoal_fail(diag, SHOAL_EINPUT, "\"%s\" must be true or false", key);
  *out = cJSON_IsTrue(it);
  return SHOAL_OK;
}

shoal_err shoal_json_get_u64(const cJSON *obj, const char *key, bool required, uint64_t *out,
                             shoal_diag *diag) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it) {
    if (required)
      return shoal_fail(diag, SHOAL_EINPUT, "missing \"%s\"", key);
    return SHOAL_OK;
  }
  if (cJSON_IsString(it)) {
    const char *s = it->valuestring;
    uint64_t v = 0;
    if (!*s || strlen(s) > 20)
      goto bad;
    for (const char *p = s; *p; p++) {
      if (*p < '0' || *p > '9')
        goto bad;
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
        goto bad;
    }
    *out = v;
    return SHOAL_OK;
  }
  if (shoal_json_is_int(it) && it->valuedouble >= 0) {
    *out = (uint64_t)it->valuedouble;
    return SHOAL_OK;
  }
bad:
  return shoal_fail(diag, SHOAL_EINPUT, "\"%s\" must be a non-negative 64-bit integer", key);
}

/* Past the closing quote of the string whose opening quote is at p; NULL
 * if the text ends first. An escape takes its next byte along. */
static const char *skip_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    if (*p == '\\') {
      if (++p >= end)
        return NULL;
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return NULL;
}

/* A scalar (number, true, false, null) ends where cJSON's would: at a
 * separator, a closing bracket or whitespace (any byte <= 0x20). */
static bool scalar_end(char c) {
  return c == ',' || c == '}' || c == ']' || c == ':' || (unsigned char)c <= 0x20;
}

const char *shoal_json_skip_value(const char *p, const char *end) {
  if (!p || !end || p >= end)
    return NULL;
  if (*p == '"')
    return skip_string(p, end);
  if (*p != '{' && *p != '[') {
    if (scalar_end(*p) || *p == '"')
      return NULL; /* not the start of a value */
    while (p < end && !scalar_end(*p))
      p++;
    return p;
  }
  int depth = 0;
  while (p < end) {
    if (*p == '"') {
      if (!(p = skip_string(p, end)))
        return NULL;
      continue;
    }
    if (*p == '{' || *p == '[') {
      if (++depth > SHOAL_JSON_MAX_DEPTH)
        return NULL;
    } else if ((*p == '}' || *p == ']') && --depth == 0) {
      return p + 1;
    }
    p++;
  }
  return NULL;
}

cJSON *shoal_json_u64(uint64_t v) {
  char buf[SHOAL_U64_TEXT_MAX];
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
  return cJSON_CreateRaw(buf);
}

char *shoal_json_print(const cJSON *item) {
  return cJSON_PrintUnformatted(item);
}

bool shoal_json_put(cJSON *obj, const char *key, cJSON *item) {
  if (obj && item && cJSON_AddItemToObject(obj, key, item))
    return true;
  cJSON_Delete(item);
  return false;
}

bool shoal_json_push(cJSON *arr, cJSON *item) {
  if (arr && item && cJSON_AddItemToArray(arr, item))
    return true;
  cJSON_Delete(item);
  return false;
}
