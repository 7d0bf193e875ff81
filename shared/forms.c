/* forms.c - the form engine (SPEC 6). A form is compiled once: its
 * definition is copied and checked, expressions parsed, patterns compiled;
 * validation then walks the fields in order with an expression environment
 * holding only the fields that passed (hidden, empty and failed fields are
 * null). No floating point: numbers are compared as exact decimal text. */
#include "shoal/forms.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/expr.h"
#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

enum ftype {
  F_TEXT,
  F_INT,
  F_DECIMAL,
  F_BOOL,
  F_CHOICE,
  F_MULTI,
  F_DATE,
  F_PHONE,
  F_SCAN,
  F_PHOTO
};

static const char *const type_names[] = {"text",  "int",  "decimal", "bool", "choice",
                                         "multi", "date", "phone",   "scan", "photo"};
#define NTYPES (sizeof type_names / sizeof type_names[0])

#define NUM_TEXT_MAX  48  /* num_text's buffer: "%.17g" of a double or an int64 */
#define WHERE_MAX     160 /* "form \"<id>\" field \"<id>\"" naming a place in a message */
#define REGEX_ERR_MAX 128 /* regerror text */

struct field {
  const char *id;
  enum ftype type;
  bool required;           /* "required": true */
  shoal_expr *required_if; /* "required": "<expression>" */
  shoal_expr *visible_if;
  bool has_re;
  regex_t re;
  const cJSON *min, *max;   /* borrowed from the form's definition */
  int64_t min_len, max_len; /* -1: none */
  const cJSON *choices;
  const cJSON *dflt;
};

struct action {
  shoal_expr *cond; /* NULL: always */
  const cJSON *ticket;
};

struct shoal_form {
  cJSON *def;
  const char *id;
  int64_t version;
  struct field *fields;
  size_t nfields;
  struct action *acts;
  size_t nacts;
};

/* ---- value helpers -------------------------------------------------------- */

static bool is_int_text(const char *s) {
  if (!s)
    return false;
  if (*s == '-')
    s++;
  if (!*s)
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

/* ^-?[0-9]+(\.[0-9]+)?$ */
static bool is_decimal_text(const char *s) {
  if (!s)
    return false;
  if (*s == '-')
    s++;
  if (*s < '0' || *s > '9')
    return false;
  while (*s >= '0' && *s <= '9')
    s++;
  if (*s == '.') {
    s++;
    if (*s < '0' || *s > '9')
      return false;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  return *s == '\0';
}

/* ^\+?[0-9]{5,20}$ */
static bool is_phone(const char *s) {
  if (*s == '+')
    s++;
  size_t n = 0;
  for (; *s; s++, n++)
    if (*s < '0' || *s > '9')
      return false;
  return n >= 5 && n <= 20;
}

/* A real calendar date written YYYY-MM-DD (year 0001 or later). */
static bool is_date(const char *s) {
  int64_t days;
  return strlen(s) == 10 && strncmp(s, "0000", 4) != 0 && shoal_date_parse(s, &days);
}

/* The exact decimal text of a number-like item (a JSON number, a raw
 * number node, or a decimal string), or NULL. buf holds NUM_TEXT_MAX bytes. */
static const char *num_text(const cJSON *j, char *buf, size_t sz) {
  if (cJSON_IsRaw(j) || cJSON_IsString(j))
    return is_decimal_text(j->valuestring) ? j->valuestring : NULL;
  if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble))
    return NULL;
  if (shoal_json_is_int(j)) {
    snprintf(buf, sz, "%lld", (long long)shoal_json_int(j));
    return buf;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sz, "%.*g", prec, j->valuedouble);
    if (strtod(buf, NULL) == j->valuedouble)
      break;
  }
  return is_decimal_text(buf) ? buf : NULL;
}

static bool all_zero(const char *s) {
  for (; *s; s++)
    if (*s != '0' && *s != '.')
      return false;
  return true;
}

/* Compares two texts that pass is_decimal_text, as numbers. */
static int dec_text_cmp(const char *a, const char *b) {
  bool na = *a == '-', nb = *b == '-';
  if (na)
    a++;
  if (nb)
    b++;
  if (all_zero(a))
    na = false;
  if (all_zero(b))
    nb = false;
  if (na != nb)
    return na ? -1 : 1;
  while (*a == '0')
    a++;
  while (*b == '0')
    b++;
  size_t ia = strcspn(a, "."), ib = strcspn(b, ".");
  int c = 0;
  if (ia != ib) {
    c = ia < ib ? -1 : 1;
  } else {
    c = memcmp(a, b, ia);
    c = c < 0 ? -1 : c > 0;
    if (c == 0) {
      const char *fa = a[ia] == '.' ? a + ia + 1 : a + ia;
      const char *fb = b[ib] == '.' ? b + ib + 1 : b + ib;
      while (c == 0 && (*fa || *fb)) {
        char da = *fa ? *fa++ : '0', db = *fb ? *fb++ : '0';
        if (da != db)
          c = da < db ? -1 : 1;
      }
    }
  }
  return na ? -c : c;
}

static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80)
      n++;
  return n;
}

static bool is_empty(const cJSON *v) {
  return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0') ||
         (cJSON_IsArray(v) && !v->child);
}

static const char *choice_value(const cJSON *c) {
  if (cJSON_IsString(c))
    return c->valuestring;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "value");
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool in_choices(const cJSON *choices, const char *s) {
  const cJSON *c;
  cJSON_ArrayForEach(c, choices) {
    const char *v = choice_value(c);
    if (v && strcmp(v, s) == 0)
      return true;
  }
  return false;
}

bool shoal_forms_photo_valid(const cJSON *v) {
  if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) != 3)
    return false;
  const cJSON *sha = cJSON_GetObjectItemCaseSensitive(v, "sha256");
  const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(v, "bytes");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
  if (!cJSON_IsString(sha) || !shoal_sha256_hex_valid(sha->valuestring))
    return false;
  if (!shoal_json_is_int(bytes) || shoal_json_int(bytes) < 1 ||
      shoal_json_int(bytes) > SHOAL_MEDIA_MAX_BYTES)
    return false;
  if (!cJSON_IsString(type) || !*type->valuestring ||
      strlen(type->valuestring) > SHOAL_MEDIA_TYPE_MAX)
    return false;
  /* type/subtype, printable, no spaces or separators a header could abuse */
  const char *slash = strchr(type->valuestring, '/');
  if (!slash || slash == type->valuestring || !slash[1])
    return false;
  for (const char *p = type->valuestring; *p; p++)
    if (*p <= ' ' || *p >= 127 || *p == ';' || *p == ',' || *p == '"')
      return false;
  return true;
}

shoal_err shoal_form_each_photo(const shoal_form *f, const cJSON *data, shoal_form_photo_fn fn,
                                void *user, shoal_diag *diag) {
  for (size_t i = 0; i < f->nfields; i++) {
    if (f->fields[i].type != F_PHOTO)
      continue;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, f->fields[i].id);
    if (!shoal_forms_photo_valid(v))
      continue; /* absent, hidden, or a v1 reference string */
    shoal_err rc = fn(f->fields[i].id, v, user, diag);
    if (rc != SHOAL_OK)
      return rc;
  }
  return SHOAL_OK;
}

static bool is_string_type(enum ftype t) {
  return t == F_TEXT || t == F_CHOICE || t == F_PHONE || t == F_SCAN || t == F_PHOTO;
}

/* Steps 4 and 5 for a non-empty value: the error code, or NULL if valid. */
static const char *check_value(const struct field *f, const cJSON *v) {
  char b1[NUM_TEXT_MAX], b2[NUM_TEXT_MAX];
  switch (f->type) {
  case F_PHOTO:
    /* v1: a blob reference string; v2 (SPEC 15): {"sha256", "bytes", "type"}. */
    if (!cJSON_IsString(v) && !shoal_forms_photo_valid(v))
      return "type";
    if (!cJSON_IsString(v))
      return NULL;
    break;
  case F_TEXT:
  case F_SCAN:
  case F_CHOICE:
    if (!cJSON_IsString(v))
      return "type";
    break;
  case F_PHONE:
    if (!cJSON_IsString(v) || !is_phone(v->valuestring))
      return "type";
    break;
  case F_INT:
    if (cJSON_IsNumber(v) ? !shoal_json_is_int(v)
                          : !(cJSON_IsRaw(v) && is_int_text(v->valuestring)))
      return "type";
    break;
  case F_DECIMAL:
    if (!cJSON_IsString(v) || !is_decimal_text(v->valuestring))
      return "type";
    break;
  case F_BOOL:
    if (!cJSON_IsBool(v))
      return "type";
    break;
  case F_MULTI: {
    if (!cJSON_IsArray(v))
      return "type";
    const cJSON *c;
    cJSON_ArrayForEach(c, v) {
      if (!cJSON_IsString(c))
        return "type";
    }
    break;
  }
  case F_DATE:
    if (!cJSON_IsString(v) || !is_date(v->valuestring))
      return "type";
    break;
  }
  if (f->choices) {
    if (f->type == F_MULTI) {
      const cJSON *c;
      cJSON_ArrayForEach(c, v) {
        if (!in_choices(f->choices, c->valuestring))
          return "choice";
      }
    } else if (!in_choices(f->choices, v->valuestring)) {
      return "choice";
    }
  }
  if (f->has_re && regexec(&f->re, v->valuestring, 0, NULL, 0) != 0)
    return "pattern";
  if (f->type == F_DATE) {
    if (f->min && strcmp(v->valuestring, f->min->valuestring) < 0)
      return "min";
    if (f->max && strcmp(v->valuestring, f->max->valuestring) > 0)
      return "max";
  } else if (f->type == F_INT || f->type == F_DECIMAL) {
    const char *t = num_text(v, b1, sizeof b1);
    const char *m;
    if (t && f->min && (m = num_text(f->min, b2, sizeof b2)) && dec_text_cmp(t, m) < 0)
      return "min";
    if (t && f->max && (m = num_text(f->max, b2, sizeof b2)) && dec_text_cmp(t, m) > 0)
      return "max";
  }
  if (f->min_len >= 0 || f->max_len >= 0) {
    int64_t len = f->type == F_MULTI ? cJSON_GetArraySize(v) : (int64_t)utf8_chars(v->valuestring);
    if (f->min_len >= 0 && len < f->min_len)
      return "min";
    if (f->max_len >= 0 && len > f->max_len)
      return "max";
  }
  return NULL;
}

/* ---- compile ------------------------------------------------------------- */

void shoal_form_free(shoal_form *f) {
  if (!f)
    return;
  for (size_t i = 0; i < f->nfields; i++) {
    shoal_expr_free(f->fields[i].required_if);
    shoal_expr_free(f->fields[i].visible_if);
    if (f->fields[i].has_re)
      regfree(&f->fields[i].re);
  }
  for (size_t i = 0; i < f->nacts; i++)
    shoal_expr_free(f->acts[i].cond);
  free(f->fields);
  free(f->acts);
  cJSON_Delete(f->def);
  free(f);
}

const char *shoal_form_id(const shoal_form *f) {
  return f->id;
}
int64_t shoal_form_version(const shoal_form *f) {
  return f->version;
}
const cJSON *shoal_form_def(const shoal_form *f) {
  return f->def;
}

static bool key_known(const char *k, const char *const *keys, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(k, keys[i]) == 0)
      return true;
  return false;
}

/* Compiles expression text for field `fid` (NULL for on_submit entry
 * `act`) and checks the names it uses: fields before index `limit`. */
static shoal_err compile_expr(const shoal_form *f, const char *what, const char *fid, size_t act,
                              const cJSON *text, size_t limit, shoal_expr **out, shoal_diag *diag) {
  char where[WHERE_MAX];
  if (fid)
    snprintf(where, sizeof where, "form \"%s\" field \"%s\"", f->id, fid);
  else
    snprintf(where, sizeof where, "form \"%s\" on_submit[%zu]", f->id, act);
  if (!cJSON_IsString(text))
    return shoal_fail(diag, SHOAL_EINPUT, "%s: \"%s\" must be an expression (a string)", where,
                      what);
  shoal_expr *e = NULL;
  shoal_err rc = shoal_expr_compile(text->valuestring, &e, diag);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "%s: %s \"%.80s\"", where, what, text->valuestring);
    return rc;
  }
  for (size_t i = 0; i < shoal_expr_name_count(e); i++) {
    const char *name = shoal_expr_name_at(e, i);
    size_t j;
    for (j = 0; j < f->nfields; j++)
      if (strcmp(f->fields[j].id, name) == 0)
        break;
    if (j == f->nfields)
      rc = shoal_fail(diag, SHOAL_EINPUT, "%s: %s names \"%s\", which is not a field of the form",
                      where, what, name);
    else if (fid && j >= limit)
      rc = shoal_fail(diag, SHOAL_EINPUT,
                      "%s: %s names \"%s\", which %s (an expression may name only earlier fields)",
                      where, what, name, j == limit ? "is the field itself" : "comes later");
    if (rc != SHOAL_OK) {
      shoal_expr_free(e);
      return rc;
    }
  }
  *out = e;
  return SHOAL_OK;
}

static shoal_err check_bound(const shoal_form *f, struct field *fd, const cJSON *b, const char *key,
                             shoal_diag *diag) {
  char buf[NUM_TEXT_MAX];
  bool ok;
  switch (fd->type) {
  case F_INT:
    ok = shoal_json_is_int(b);
    break;
  case F_DECIMAL:
    ok = num_text(b, buf, sizeof buf) != NULL;
    break;
  case F_DATE:
    ok = cJSON_IsString(b) && is_date(b->valuestring);
    break;
  default:
    return shoal_fail(diag, SHOAL_EINPUT,
                      "form \"%s\" field \"%s\": \"%s\" applies only to int, decimal and date "
                      "fields (use min_len/max_len for lengths)",
                      f->id, fd->id, key);
  }
  if (!ok)
    return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\" field \"%s\": \"%s\" must be %s", f->id,
                      fd->id, key,
                      fd->type == F_INT       ? "an integer"
                      : fd->type == F_DECIMAL ? "a decimal number (\"12.50\")"
                                              : "a date YYYY-MM-DD");
  return SHOAL_OK;
}

/* Known keys only, then "type" and "label". */
static shoal_err field_type(shoal_form *f, size_t i, const cJSON *jf, shoal_diag *diag) {
  struct field *fd = &f->fields[i];
  static const char *const keys[] = {"id",  "type", "label",   "required", "visible_if", "pattern",
                                     "min", "max",  "min_len", "max_len",  "choices",    "default"};
  const cJSON *k;
  cJSON_ArrayForEach(k, jf) {
    if (!key_known(k->string, keys, sizeof keys / sizeof keys[0]))
      return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\" field \"%s\": unknown key \"%s\"", f->id,
                        fd->id, k->string);
  }
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(jf, "type");
  if (!cJSON_IsString(t))
    return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\" field \"%s\": missing \"type\"", f->id,
                      fd->id);
  size_t ti;
  for (ti = 0; ti < NTYPES; ti++)
    if (strcmp(type_names[ti], t->valuestring) == 0)
      break;
  if (ti == NTYPES)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "form \"%s\" field \"%s\": unknown type \"%s\" (want text, int, decimal, "
                      "bool, choice, multi, date, phone, scan or photo)",
                      f->id, fd->id, t->valuestring);
  fd->type = (enum ftype)ti;
  const cJSON *label = cJSON_GetObjectItemCaseSensitive(jf, "label");
  if (label && !cJSON_IsString(label))
    return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\" field \"%s\": \"label\" must be a string",
                      f->id, fd->id);
  return SHOAL_OK;
}

/* "required" (a bool or an expression) and "visible_if": expressions may
 * name only earlier fields. */
static shoal_err field_conditions(shoal_form *f, size_t i, const cJSON *jf, shoal_diag *diag) {
  struct field *fd = &f->fields[i];
  shoal_err rc;
  const cJSON *req = cJSON_GetObjectItemCaseSensitive(jf, "required");
  if (cJSON_IsBool(req))
    fd->required = cJSON_IsTrue(req);
  else if (req && (rc = compile_expr(f, "required", fd->id, 0, req, i, &fd->required_if, diag)) !=
                      SHOAL_OK)
    return rc;
  const cJSON *vis = cJSON_GetObjectItemCaseSensitive(jf, "visible_if");
  if (vis &&
      (rc = compile_expr(f, "visible_if", fd->id, 0, vis, i, &fd->visible_if, diag)) != SHOAL_OK)
    return rc;
  return SHOAL_OK;
}

/* "pattern": a POSIX extended regex for text, phone and scan fields. */
static shoal_err field_pattern(shoal_form *f, size_t i, const cJSON *jf, shoal_diag *diag) {
  struct field *fd = &f->fields[i];
  const cJSON *pat = cJSON_GetObjectItemCaseSensitive(jf, "pattern");
  if (pat) {
    if (fd->type != F_TEXT && fd->type != F_PHONE && fd->type != F_SCAN)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "form \"%s\" field \"%s\": \"pattern\" applies only to text, phone and "
                        "scan fields",
                        f->id, fd->id);
    if (!cJSON_IsString(pat))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "form \"%s\" field \"%s\": \"pattern\" must be a string", f->id, fd->id);
    int rr = regcomp(&fd->re, pat->valuestring, REG_EXTENDED | REG_NOSUB);
    if (rr != 0) {
      char msg[REGEX_ERR_MAX];
      regerror(rr, &fd->re, msg, sizeof msg);
      return shoal_fail(diag, SHOAL_EINPUT,
                        "form \"%s\" field \"%s\": pattern \"%.80s\" is not a POSIX extended "
                        "regular expression: %s",
                        f->id, fd->id, pat->valuestring, msg);
    }
    fd->has_re = true;
  }
  return SHOAL_OK;
}

/* "min"/"max" (int, decimal and date fields) and "min_len"/"max_len". */
static shoal_err field_bounds(shoal_form *f, size_t i, const cJSON *jf, shoal_diag *diag) {
  struct field *fd = &f->fields[i];
  shoal_err rc;
  fd->min = cJSON_GetObjectItemCaseSensitive(jf, "min");
  fd->max = cJSON_GetObjectItemCaseSensitive(jf, "max");
  if (fd->min && (rc = check_bound(f, fd, fd->min, "min", diag)) != SHOAL_OK)
    return rc;
  if (fd->max && (rc = check_bound(f, fd, fd->max, "max", diag)) != SHOAL_OK)
    return rc;
  if (fd->min && fd->max) {
    char b1[NUM_TEXT_MAX], b2[NUM_TEXT_MAX];
    int c = fd->type == F_DATE
                ? strcmp(fd->min->valuestring, fd->max->valuestring)
                : dec_text_cmp(num_text(fd->min, b1, sizeof b1), num_text(fd->max, b2, sizeof b2));
    if (c > 0)
      return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\" field \"%s\": \"min\" is above \"max\"",
                        f->id, fd->id);
  }

  fd->min_len = fd->max_len = -1;
  static const char *const lens[] = {"min_len", "max_len"};
  for (int l = 0; l < 2; l++) {
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(jf, lens[l]);
    if (!jl)
      continue;
    if (!is_string_type(fd->type) && fd->type != F_MULTI)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "form \"%s\" field \"%s\": \"%s\" applies only to text-like and multi "
                        "fields",
                        f->id, fd->id, lens[l]);
    if (!shoal_json_is_int(jl) || shoal_json_int(jl) < 0)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "form \"%s\" field \"%s\": \"%s\" must be an integer >= 0", f->id, fd->id,
                        lens[l]);
    *(l == 0 ? &fd->min_len : &fd->max_len) = shoal_json_int(jl);
  }
  if (fd->min_len >= 0 && fd->max_len >= 0 && fd->min_len > fd->max_len)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "form \"%s\" field \"%s\": \"min_len\" is above \"max_len\"", f->id, fd->id);
  return SHOAL_OK;
}

/* "choices": required for choice and multi fields; no duplicates. */
static shoal_err field_choices(shoal_form *f, size_t i, const cJSON *jf, shoal_diag *diag) {
  struct field *fd = &f->fields[i];
  const cJSON *ch = cJSON_GetObjectItemCaseSensitive(jf, "choices");
  if (ch) {
    if (!is_string_type(fd->type) && fd->type != F_MULTI)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "form \"%s\" field \"%s\": \"choices\" applies only to text-like, choice "
                        "and multi fields",
                        f->id, fd->id);
    if (!cJSON_IsArray(ch) || !ch->child)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "form \"%s\" field \"%s\": \"choices\" must be a non-empty array", f->id,
                        fd->id);
    if (cJSON_GetArraySize(ch) > SHOAL_FORM_CHOICES_MAX)
      return shoal_fail(diag, SHOAL_ELIMIT, "form \"%s\" field \"%s\": more than %d choices", f->id,
                        fd->id, SHOAL_FORM_CHOICES_MAX);
    const cJSON *c;
    cJSON_ArrayForEach(c, ch) {
      if (cJSON_IsObject(c)) {
        const cJSON *ck;
        cJSON_ArrayForEach(ck, c) {
          if ((strcmp(ck->string, "value") != 0 && strcmp(ck->string, "label") != 0) ||
              !cJSON_IsString(ck))
            return shoal_fail(diag, SHOAL_EINPUT,
                              "form \"%s\" field \"%s\": a choice object has only string "
                              "\"value\" and \"label\"",
                              f->id, fd->id);
        }
      }
      const char *v = choice_value(c);
      if (!v)
        return shoal_fail(diag, SHOAL_EINPUT,
                          "form \"%s\" field \"%s\": a choice is a string or {\"value\", "
                          "\"label\"}",
                          f->id, fd->id);
      for (const cJSON *d = ch->child; d != c; d = d->next)
        if (strcmp(choice_value(d), v) == 0)
          return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\" field \"%s\": duplicate choice \"%s\"",
                            f->id, fd->id, v);
    }
    fd->choices = ch;
  } else if (fd->type == F_CHOICE || fd->type == F_MULTI) {
    return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\" field \"%s\": a %s field needs \"choices\"",
                      f->id, fd->id, type_names[fd->type]);
  }
  return SHOAL_OK;
}

/* "default": a valid value of the field (empty is always allowed). */
static shoal_err field_default(shoal_form *f, size_t i, const cJSON *jf, shoal_diag *diag) {
  struct field *fd = &f->fields[i];
  fd->dflt = cJSON_GetObjectItemCaseSensitive(jf, "default");
  if (fd->dflt && !is_empty(fd->dflt)) {
    const char *code = check_value(fd, fd->dflt);
    if (code)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "form \"%s\" field \"%s\": \"default\" is not a valid value (%s)", f->id,
                        fd->id, code);
  }
  return SHOAL_OK;
}

static shoal_err compile_field(shoal_form *f, size_t i, const cJSON *jf, shoal_diag *diag) {
  shoal_err rc;
  if ((rc = field_type(f, i, jf, diag)) != SHOAL_OK ||
      (rc = field_conditions(f, i, jf, diag)) != SHOAL_OK ||
      (rc = field_pattern(f, i, jf, diag)) != SHOAL_OK ||
      (rc = field_bounds(f, i, jf, diag)) != SHOAL_OK ||
      (rc = field_choices(f, i, jf, diag)) != SHOAL_OK)
    return rc;
  return field_default(f, i, jf, diag);
}

static shoal_err compile_action(shoal_form *f, size_t i, const cJSON *ja, shoal_diag *diag) {
  static const char *const tkeys[] = {"category", "priority", "title"};
  static const char *const prios[] = {"low", "normal", "high", "urgent"};
  struct action *a = &f->acts[i];
  shoal_err rc;
  if (!cJSON_IsObject(ja))
    return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\" on_submit[%zu] must be an object", f->id, i);
  const cJSON *k;
  cJSON_ArrayForEach(k, ja) {
    if (strcmp(k->string, "if") != 0 && strcmp(k->string, "ticket") != 0)
      return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\" on_submit[%zu]: unknown key \"%s\"", f->id,
                        i, k->string);
  }
  const cJSON *cond = cJSON_GetObjectItemCaseSensitive(ja, "if");
  if (cond && (rc = compile_expr(f, "if", NULL, i, cond, f->nfields, &a->cond, diag)) != SHOAL_OK)
    return rc;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(ja, "ticket");
  if (!cJSON_IsObject(t))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "form \"%s\" on_submit[%zu]: \"ticket\" must be an object {category, "
                      "priority, title}",
                      f->id, i);
  cJSON_ArrayForEach(k, t) {
    if (!key_known(k->string, tkeys, 3))
      return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\" on_submit[%zu]: unknown ticket key \"%s\"",
                        f->id, i, k->string);
  }
  for (int j = 0; j < 3; j++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, tkeys[j]);
    if (!cJSON_IsString(v) || !v->valuestring[0])
      return shoal_fail(diag, SHOAL_EINPUT,
                        "form \"%s\" on_submit[%zu]: ticket needs a non-empty string \"%s\"", f->id,
                        i, tkeys[j]);
  }
  const char *p = cJSON_GetObjectItemCaseSensitive(t, "priority")->valuestring;
  if (!key_known(p, prios, 4))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "form \"%s\" on_submit[%zu]: priority \"%s\" is not low, normal, high or "
                      "urgent",
                      f->id, i, p);
  a->ticket = t;
  return SHOAL_OK;
}

shoal_err shoal_form_compile(const cJSON *def, shoal_form **out, shoal_diag *diag) {
  static const char *const keys[] = {"id", "version", "title", "fields", "on_submit"};
  shoal_err rc = SHOAL_OK;
  shoal_form *f = NULL;
  if (!cJSON_IsObject(def))
    return shoal_fail(diag, SHOAL_EINPUT, "forms: a form must be an object");
  const cJSON *jid = cJSON_GetObjectItemCaseSensitive(def, "id");
  if (!cJSON_IsString(jid) || !shoal_id_valid(jid->valuestring))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "forms: a form needs an \"id\" matching ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$");
  const char *id = jid->valuestring;
  const cJSON *k;
  cJSON_ArrayForEach(k, def) {
    if (!key_known(k->string, keys, sizeof keys / sizeof keys[0]))
      return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\": unknown key \"%s\"", id, k->string);
  }
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(def, "version");
  if (!shoal_json_is_int(ver) || shoal_json_int(ver) < 1)
    return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\": \"version\" must be an integer >= 1", id);
  const cJSON *title = cJSON_GetObjectItemCaseSensitive(def, "title");
  if (!cJSON_IsString(title))
    return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\": \"title\" must be a string", id);
  const cJSON *fields = cJSON_GetObjectItemCaseSensitive(def, "fields");
  if (!cJSON_IsArray(fields))
    return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\": \"fields\" must be an array", id);
  int nf = cJSON_GetArraySize(fields);
  if (nf > SHOAL_FORM_FIELDS_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "form \"%s\": more than %d fields", id,
                      SHOAL_FORM_FIELDS_MAX);
  const cJSON *acts = cJSON_GetObjectItemCaseSensitive(def, "on_submit");
  if (acts && !cJSON_IsArray(acts))
    return shoal_fail(diag, SHOAL_EINPUT, "form \"%s\": \"on_submit\" must be an array", id);
  int na = acts ? cJSON_GetArraySize(acts) : 0;
  if (na > SHOAL_FORM_ON_SUBMIT_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "form \"%s\": more than %d on_submit entries", id,
                      SHOAL_FORM_ON_SUBMIT_MAX);

  f = calloc(1, sizeof *f);
  if (!f || !(f->def = cJSON_Duplicate(def, true)) ||
      (nf && !(f->fields = calloc((size_t)nf, sizeof *f->fields))) ||
      (na && !(f->acts = calloc((size_t)na, sizeof *f->acts)))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory compiling form \"%s\"", id);
    goto cleanup;
  }
  /* Everything below borrows from the copy, so the form outlives def. */
  f->id = cJSON_GetObjectItemCaseSensitive(f->def, "id")->valuestring;
  f->version = shoal_json_int(cJSON_GetObjectItemCaseSensitive(f->def, "version"));
  fields = cJSON_GetObjectItemCaseSensitive(f->def, "fields");
  acts = cJSON_GetObjectItemCaseSensitive(f->def, "on_submit");

  /* First pass: ids, so expressions can tell later fields from unknown ones. */
  size_t i = 0;
  const cJSON *jf;
  cJSON_ArrayForEach(jf, fields) {
    const cJSON *fid = cJSON_GetObjectItemCaseSensitive(jf, "id");
    if (!cJSON_IsObject(jf) || !cJSON_IsString(fid) || !shoal_id_valid(fid->valuestring)) {
      rc = shoal_fail(diag, SHOAL_EINPUT,
                      "form \"%s\": field #%zu needs an \"id\" matching "
                      "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                      f->id, i + 1);
      goto cleanup;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(f->fields[j].id, fid->valuestring) == 0) {
        rc = shoal_fail(diag, SHOAL_EINPUT, "form \"%s\": duplicate field id \"%s\"", f->id,
                        fid->valuestring);
        goto cleanup;
      }
    f->fields[i].id = fid->valuestring;
    f->fields[i].min_len = f->fields[i].max_len = -1;
    i++;
  }
  f->nfields = i;
  i = 0;
  cJSON_ArrayForEach(jf, fields) {
    if ((rc = compile_field(f, i++, jf, diag)) != SHOAL_OK)
      goto cleanup;
  }
  f->nacts = (size_t)na;
  i = 0;
  const cJSON *ja;
  if (acts) {
    cJSON_ArrayForEach(ja, acts) {
      if ((rc = compile_action(f, i++, ja, diag)) != SHOAL_OK)
        goto cleanup;
    }
  }
  *out = f;
  f = NULL;
cleanup:
  shoal_form_free(f);
  return rc;
}

shoal_err shoal_forms_validate_doc(const cJSON *doc, shoal_diag *diag) {
  const cJSON *forms = cJSON_GetObjectItemCaseSensitive(doc, "forms");
  if (!forms)
    return SHOAL_OK;
  if (!cJSON_IsArray(forms))
    return shoal_fail(diag, SHOAL_EINPUT, "policy: \"forms\" must be an array");
  if (cJSON_GetArraySize(forms) > SHOAL_FORMS_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "policy: more than %d forms", SHOAL_FORMS_MAX);
  const cJSON *jf;
  cJSON_ArrayForEach(jf, forms) {
    shoal_form *f = NULL;
    shoal_err rc = shoal_form_compile(jf, &f, diag);
    if (rc != SHOAL_OK)
      return rc;
    shoal_form_free(f);
    const char *id = cJSON_GetObjectItemCaseSensitive(jf, "id")->valuestring;
    for (const cJSON *o = forms->child; o != jf; o = o->next)
      if (strcmp(cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring, id) == 0)
        return shoal_fail(diag, SHOAL_EINPUT, "policy: duplicate form id \"%s\"", id);
  }
  return SHOAL_OK;
}

const cJSON *shoal_forms_find(const cJSON *const *docs, size_t n, const char *id, int64_t version,
                              size_t *out_index) {
  for (size_t i = n; i-- > 0;) {
    const cJSON *forms = docs[i] ? cJSON_GetObjectItemCaseSensitive(docs[i], "forms") : NULL;
    const cJSON *f;
    cJSON_ArrayForEach(f, forms) {
      const cJSON *fid = cJSON_GetObjectItemCaseSensitive(f, "id");
      if (!cJSON_IsString(fid) || strcmp(fid->valuestring, id) != 0)
        continue;
      if (version > 0) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, "version");
        if (!shoal_json_is_int(v) || shoal_json_int(v) != version)
          continue;
      }
      if (out_index)
        *out_index = i;
      return f;
    }
  }
  return NULL;
}

/* ---- validate ------------------------------------------------------------ */

void shoal_form_result_cleanup(struct shoal_form_result *r) {
  cJSON_Delete(r->errors);
  cJSON_Delete(r->data);
  cJSON_Delete(r->env);
  r->errors = r->data = r->env = NULL;
}

static bool add_error(cJSON *errors, const char *field, const char *code) {
  cJSON *e = cJSON_CreateObject();
  if (!shoal_json_push(errors, e))
    return false;
  return cJSON_AddStringToObject(e, "field", field) && cJSON_AddStringToObject(e, "code", code);
}

shoal_err shoal_form_validate(const shoal_form *f, const cJSON *data, struct shoal_form_result *out,
                              shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  struct shoal_form_result r = {0};
  if (!cJSON_IsObject(data))
    return shoal_fail(diag, SHOAL_EINPUT, "form data must be a JSON object");
  r.errors = cJSON_CreateArray();
  r.data = cJSON_CreateObject();
  r.env = cJSON_CreateObject();
  if (!r.errors || !r.data || !r.env)
    goto oom;
  for (size_t i = 0; i < f->nfields; i++) {
    const struct field *fd = &f->fields[i];
    bool b;
    /* 1. hidden: dropped, never checked, null later on */
    if (fd->visible_if) {
      if ((rc = shoal_expr_test(fd->visible_if, r.env, &b, diag)) != SHOAL_OK)
        goto fail;
      if (!b)
        continue;
    }
    /* 2. default for an absent value */
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, fd->id);
    if (!v && fd->dflt)
      v = fd->dflt;
    /* 3. empty: required or nothing */
    if (is_empty(v)) {
      b = fd->required;
      if (fd->required_if && (rc = shoal_expr_test(fd->required_if, r.env, &b, diag)) != SHOAL_OK)
        goto fail;
      if (b && !add_error(r.errors, fd->id, "required"))
        goto oom;
      continue;
    }
    /* 4-5. type, then the first failing constraint */
    const char *code = check_value(fd, v);
    if (code) {
      if (!add_error(r.errors, fd->id, code))
        goto oom;
      continue;
    }
    cJSON *kept = cJSON_Duplicate(v, true);
    cJSON *seen =
        fd->type == F_DECIMAL ? cJSON_CreateRaw(v->valuestring) : cJSON_Duplicate(v, true);
    /* Each put owns its item, failed or not. */
    bool put_kept = shoal_json_put(r.data, fd->id, kept);
    if (!shoal_json_put(r.env, fd->id, seen) || !put_kept)
      goto oom;
  }
  const cJSON *k;
  cJSON_ArrayForEach(k, data) {
    size_t i;
    for (i = 0; i < f->nfields; i++)
      if (strcmp(f->fields[i].id, k->string) == 0)
        break;
    if (i == f->nfields && !add_error(r.errors, k->string, "unknown"))
      goto oom;
  }
  r.valid = r.errors->child == NULL;
  *out = r;
  return SHOAL_OK;
oom:
  rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory validating form \"%s\"", f->id);
fail:
  shoal_form_result_cleanup(&r);
  return rc;
}

cJSON *shoal_form_result_json(const struct shoal_form_result *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON *e = cJSON_Duplicate(r->errors, true), *d = cJSON_Duplicate(r->data, true);
  bool ok = o && cJSON_AddBoolToObject(o, "valid", r->valid);
  ok &= shoal_json_put(o, "errors", e);
  ok &= shoal_json_put(o, "data", d);
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

shoal_err shoal_form_on_submit(const shoal_form *f, const struct shoal_form_result *r, cJSON **out,
                               shoal_diag *diag) {
  cJSON *arr = cJSON_CreateArray();
  if (!arr)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  for (size_t i = 0; i < f->nacts; i++) {
    bool hit = true;
    shoal_err rc;
    if (f->acts[i].cond &&
        (rc = shoal_expr_test(f->acts[i].cond, r->env, &hit, diag)) != SHOAL_OK) {
      cJSON_Delete(arr);
      return rc;
    }
    if (!hit)
      continue;
    cJSON *t = cJSON_Duplicate(f->acts[i].ticket, true);
    if (!t) {
      cJSON_Delete(arr);
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    }
    cJSON_AddItemToArray(arr, t);
  }
  *out = arr;
  return SHOAL_OK;
}

/* ---- data parsing -------------------------------------------------------- */

/* Skips what cJSON skips between tokens: every byte <= 0x20, NUL
 * included, so this walk stays in step with the parse it shadows (a NUL
 * treated as a token once made it step past the end). */
static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (unsigned char)*p <= 0x20)
    p++;
  return p;
}

/* One byte forward, never past end. */
static const char *step(const char *p, const char *end) {
  return p < end ? p + 1 : end;
}

shoal_err shoal_forms_data_parse(const char *text, size_t len, cJSON **out, shoal_diag *diag) {
  if (len > SHOAL_FORM_DATA_MAX_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "form data of %zu bytes is over the limit of %d", len,
                      SHOAL_FORM_DATA_MAX_BYTES);
  const char *endp = NULL;
  shoal_err crc = shoal_json_check_text(text, len, diag);
  if (crc != SHOAL_OK)
    return crc;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &endp, 0);
  if (!root)
    return shoal_fail(diag, SHOAL_EJSON, "malformed JSON near byte %zu",
                      endp && endp >= text ? (size_t)(endp - text) : 0);
  /* Duplicate keys are refused below, while the members are walked. */
  const char *end = text + len;
  const char *p = skip_ws(endp, end);
  if (p < end && *p) {
    cJSON_Delete(root);
    return shoal_fail(diag, SHOAL_EJSON, "malformed JSON: trailing data at byte %zu",
                      (size_t)(p - text));
  }
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return shoal_fail(diag, SHOAL_EINPUT, "form data must be a JSON object");
  }
  /* Walk the source text alongside the parsed members (same order) and
   * turn each top-level number into a raw node of its exact text. */
  p = text;
  if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
    p += 3;                       /* cJSON skips a UTF-8 byte order mark too */
  p = step(skip_ws(p, end), end); /* past '{' */
  cJSON *c = root->child;
  for (; c; c = c->next) {
    for (const cJSON *o = root->child; o != c; o = o->next)
      if (strcmp(o->string, c->string) == 0) {
        shoal_err rc = shoal_fail(diag, SHOAL_EINPUT, "form data: duplicate key \"%s\"", c->string);
        cJSON_Delete(root);
        return rc;
      }
    p = shoal_json_skip_value(skip_ws(p, end), end);                     /* key */
    const char *v = p ? skip_ws(step(skip_ws(p, end), end), end) : NULL; /* past ':' */
    const char *v_end = v ? shoal_json_skip_value(v, end) : NULL;
    if (!v_end) {
      /* cJSON parsed this text: the walk cannot lose step with it. */
      cJSON_Delete(root);
      return shoal_fail(diag, SHOAL_EJSON, "malformed JSON near member \"%s\"", c->string);
    }
    p = step(skip_ws(v_end, end), end); /* ',' or '}' */
    if (cJSON_IsNumber(c)) {
      size_t n = (size_t)(v_end - v);
      char *raw = malloc(n + 1);
      if (!raw) {
        cJSON_Delete(root);
        return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      }
      memcpy(raw, v, n);
      raw[n] = '\0';
      c->type = cJSON_Raw;
      c->valuestring = raw;
    }
  }
  *out = root;
  return SHOAL_OK;
}
