/* expr.c - the expression language (SPEC 6): a hand-written lexer and
 * recursive-descent parser building an AST in an arena owned by the
 * compiled expression, and a tree-walking evaluator whose temporaries live
 * in a per-evaluation arena with a hard size cap. Numbers are exact
 * decimals: a 128-bit mantissa and a scale of 0..18 fractional digits. */
#include "shoal/expr.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/arena.h"
#include "shoal/shoal_limits.h"

#define STRINGIFY_(x)        #x
#define STRINGIFY(x)         STRINGIFY_(x)
#define MAX_NODES_TEXT       STRINGIFY(SHOAL_EXPR_MAX_NODES) /* for perr, which takes strings */
#define DOUBLE_TEXT_MAX      40                 /* "%.17g" of any double, NUL included */
#define EXPECT_TEXT_MAX      64                 /* "what was expected" in a parse error */
#define DOUBLE_EXACT_INT_MAX 9007199254740992.0 /* 2^53: doubles hold every integer up to it */

/* ---- exact decimals ---------------------------------------------------- */

__extension__ typedef __int128 i128;

#define DEC_MAX_SCALE 18
#define DIV_SCALE     6

struct dec {
  i128 m;    /* value = m / 10^scale */
  int scale; /* 0 .. DEC_MAX_SCALE */
};

static i128 p10(int k) {
  i128 r = 1;
  while (k-- > 0)
    r *= 10;
  return r;
}

/* Mantissas stay within +-10^37 so that doubling a remainder never overflows. */
static bool dec_in_range(i128 m) {
  i128 lim = p10(37);
  return m <= lim && m >= -lim;
}

/* n / d rounded half away from zero (d != 0). */
static i128 div_half_away(i128 n, i128 d) {
  i128 q = n / d, r = n % d;
  i128 ar = r < 0 ? -r : r, ad = d < 0 ? -d : d;
  if (ar >= ad - ar)
    q += ((n < 0) != (d < 0)) ? -1 : 1;
  return q;
}

static bool dec_fix_scale(struct dec *d) {
  if (d->scale > DEC_MAX_SCALE) {
    d->m = div_half_away(d->m, p10(d->scale - DEC_MAX_SCALE));
    d->scale = DEC_MAX_SCALE;
  }
  return dec_in_range(d->m);
}

/* Parses [-]digits[.digits][e[+-]digits] (exponent only if allow_exp). */
static bool dec_parse(const char *s, size_t len, bool allow_exp, struct dec *out) {
  size_t i = 0;
  bool neg = false;
  if (i < len && (s[i] == '-' || s[i] == '+')) {
    neg = s[i] == '-';
    i++;
  }
  i128 m = 0;
  int frac = 0, ndig = 0;
  bool point = false;
  for (; i < len; i++) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      if (m != 0 || c != '0') {
        if (m > p10(37) / 10)
          return false;
      }
      m = m * 10 + (c - '0');
      if (point)
        frac++;
      ndig++;
      if (frac > 60)
        return false;
    } else if (c == '.' && !point) {
      if (ndig == 0)
        return false;
      point = true;
      if (i + 1 >= len || s[i + 1] < '0' || s[i + 1] > '9')
        return false;
    } else {
      break;
    }
  }
  if (ndig == 0)
    return false;
  long exp = 0;
  if (i < len && allow_exp && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    bool eneg = false;
    if (i < len && (s[i] == '-' || s[i] == '+')) {
      eneg = s[i] == '-';
      i++;
    }
    if (i >= len || s[i] < '0' || s[i] > '9')
      return false;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
      exp = exp * 10 + (s[i] - '0');
      if (exp > 100)
        return false;
    }
    if (eneg)
      exp = -exp;
  }
  if (i != len)
    return false;
  long scale = frac - exp;
  if (scale < 0) {
    if (m != 0) {
      for (long k = 0; k < -scale; k++) {
        if (m > p10(37) / 10)
          return false;
        m *= 10;
      }
    }
    scale = 0;
  }
  struct dec d = {neg ? -m : m, 0};
  if (scale > DEC_MAX_SCALE) {
    if (scale - DEC_MAX_SCALE > 38)
      d.m = 0;
    else
      d.m = div_half_away(d.m, p10((int)(scale - DEC_MAX_SCALE)));
    scale = DEC_MAX_SCALE;
  }
  d.scale = (int)scale;
  if (!dec_in_range(d.m))
    return false;
  *out = d;
  return true;
}

static bool dec_align(struct dec *a, int scale) {
  while (a->scale < scale) {
    if (__builtin_mul_overflow(a->m, (i128)10, &a->m) || !dec_in_range(a->m))
      return false;
    a->scale++;
  }
  return true;
}

static bool dec_add(struct dec a, struct dec b, bool sub, struct dec *out) {
  int s = a.scale > b.scale ? a.scale : b.scale;
  if (!dec_align(&a, s) || !dec_align(&b, s))
    return false;
  struct dec r = {sub ? a.m - b.m : a.m + b.m, s};
  if (!dec_in_range(r.m))
    return false;
  *out = r;
  return true;
}

static bool dec_mul(struct dec a, struct dec b, struct dec *out) {
  struct dec r;
  if (__builtin_mul_overflow(a.m, b.m, &r.m))
    return false;
  r.scale = a.scale + b.scale;
  if (!dec_fix_scale(&r))
    return false;
  *out = r;
  return true;
}

/* a / b kept to DIV_SCALE places, half away from zero; false on b == 0. */
static bool dec_div(struct dec a, struct dec b, struct dec *out) {
  if (b.m == 0)
    return false;
  int k = DIV_SCALE + b.scale - a.scale;
  i128 n = a.m, d = b.m;
  if (k >= 0) {
    if (__builtin_mul_overflow(n, p10(k), &n))
      return false;
  } else {
    if (__builtin_mul_overflow(d, p10(-k), &d))
      return false;
  }
  struct dec r = {div_half_away(n, d), DIV_SCALE};
  if (!dec_in_range(r.m))
    return false;
  *out = r;
  return true;
}

static int dec_cmp(struct dec a, struct dec b) {
  i128 ai = a.m / p10(a.scale), bi = b.m / p10(b.scale);
  if (ai != bi)
    return ai < bi ? -1 : 1;
  i128 af = (a.m % p10(a.scale)) * p10(DEC_MAX_SCALE - a.scale);
  i128 bf = (b.m % p10(b.scale)) * p10(DEC_MAX_SCALE - b.scale);
  if (af != bf)
    return af < bf ? -1 : 1;
  return 0;
}

/* Writes the decimal text ("-12.50") into buf (at least 64 bytes). */
static void dec_format(struct dec d, char *buf) {
  char digits[64];
  int n = 0;
  i128 m = d.m < 0 ? -d.m : d.m;
  do {
    digits[n++] = (char)('0' + (int)(m % 10));
    m /= 10;
  } while (m > 0);
  while (n <= d.scale)
    digits[n++] = '0';
  char *p = buf;
  if (d.m < 0)
    *p++ = '-';
  for (int i = n - 1; i >= 0; i--) {
    *p++ = digits[i];
    if (i == d.scale && d.scale > 0)
      *p++ = '.';
  }
  *p = '\0';
}

/* A JSON double as an exact decimal: integers exactly, other values through
 * their shortest text that reads back as the same double. */
static bool dec_from_double(double v, struct dec *out) {
  if (!isfinite(v))
    return false;
  if (v == floor(v) && fabs(v) <= DOUBLE_EXACT_INT_MAX) {
    out->m = (i128)(int64_t)v;
    out->scale = 0;
    return true;
  }
  char buf[DOUBLE_TEXT_MAX];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  return dec_parse(buf, strlen(buf), true, out);
}

/* ---- values -------------------------------------------------------------- */

enum vkind { V_NULL, V_BOOL, V_NUM, V_STR, V_LIST, V_OBJ };

struct val {
  enum vkind k;
  bool b;
  struct dec d;
  const char *s; /* V_STR: not necessarily NUL-terminated */
  size_t slen;
  const struct val *items; /* V_LIST */
  size_t n;
  const cJSON *obj; /* V_OBJ: borrowed from the environment */
};

static const struct val VNULL = {.k = V_NULL};

static struct val vbool(bool b) {
  struct val v = {.k = V_BOOL, .b = b};
  return v;
}

static bool val_truthy(const struct val *v) {
  switch (v->k) {
  case V_NULL:
    return false;
  case V_BOOL:
    return v->b;
  case V_NUM:
    return v->d.m != 0;
  case V_STR:
    return v->slen > 0;
  case V_LIST:
    return v->n > 0;
  case V_OBJ:
    return v->obj->child != NULL;
  }
  return false;
}

static bool val_eq(const struct val *a, const struct val *b) {
  if (a->k != b->k)
    return false;
  switch (a->k) {
  case V_NULL:
    return true;
  case V_BOOL:
    return a->b == b->b;
  case V_NUM:
    return dec_cmp(a->d, b->d) == 0;
  case V_STR:
    return a->slen == b->slen && memcmp(a->s, b->s, a->slen) == 0;
  case V_LIST:
    if (a->n != b->n)
      return false;
    for (size_t i = 0; i < a->n; i++)
      if (!val_eq(&a->items[i], &b->items[i]))
        return false;
    return true;
  case V_OBJ:
    return cJSON_Compare(a->obj, b->obj, true) != 0;
  }
  return false;
}

static bool str_contains(const char *h, size_t hl, const char *n, size_t nl) {
  if (nl == 0)
    return true;
  for (size_t i = 0; i + nl <= hl; i++)
    if (memcmp(h + i, n, nl) == 0)
      return true;
  return false;
}

static size_t utf8_chars(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      n++;
  return n;
}

/* ---- AST ----------------------------------------------------------------- */

enum op {
  N_LIT,
  N_NAME,
  N_LIST,
  N_OR,
  N_AND,
  N_NOT,
  N_EQ,
  N_NE,
  N_LT,
  N_LE,
  N_GT,
  N_GE,
  N_IN,
  N_NOTIN,
  N_ADD,
  N_SUB,
  N_MUL,
  N_DIV,
  N_NEG,
  N_LEN,
  N_CONTAINS,
  N_EMPTY,
};

struct node {
  enum op op;
  struct node *a, *b;
  struct node **kids; /* N_LIST */
  size_t nkids;
  struct val lit;   /* N_LIT */
  const char *name; /* N_NAME */
};

struct shoal_expr {
  char *text;
  struct node *root;
  struct shoal_arena ar;
  const char **names;
  size_t nnames;
};

/* ---- lexer --------------------------------------------------------------- */

enum tk {
  T_END,
  T_NUM,
  T_STR,
  T_NAME,
  T_LP,
  T_RP,
  T_LB,
  T_RB,
  T_COMMA,
  T_EQ,
  T_NE,
  T_LT,
  T_LE,
  T_GT,
  T_GE,
  T_PLUS,
  T_MINUS,
  T_STAR,
  T_SLASH,
  T_AND,
  T_OR,
  T_NOT,
  T_IN,
  T_TRUE,
  T_FALSE,
  T_NULL,
};

struct tok {
  enum tk k;
  size_t start, end;
  char *str; /* T_STR decoded, T_NAME copy (arena) */
  size_t slen;
};

struct parser {
  const char *src;
  size_t len, pos;
  struct tok cur;
  struct shoal_expr *e;
  int depth;
  size_t nodes;
  shoal_diag *diag;
  shoal_err err; /* SHOAL_OK until the first failure */
};

static int column(const struct parser *p, size_t off) {
  return (int)utf8_chars(p->src, off) + 1;
}

static bool perr(struct parser *p, shoal_err err, size_t off, const char *fmt, const char *a,
                 const char *b) {
  if (p->err != SHOAL_OK)
    return false;
  char msg[256];
  snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
  p->err = shoal_fail(p->diag, err, "at column %d: %s", column(p, off), msg);
  return false;
}

static bool oom(struct parser *p) {
  if (p->err == SHOAL_OK)
    p->err = shoal_fail(p->diag, SHOAL_ENOMEM, "out of memory compiling an expression");
  return false;
}

/* How a token is shown in messages: 'text' or "end of expression". */
static void tok_desc(const struct parser *p, const struct tok *t, char *buf, size_t sz) {
  if (t->k == T_END) {
    snprintf(buf, sz, "end of expression");
    return;
  }
  int n = (int)(t->end - t->start);
  if (n > 24)
    snprintf(buf, sz, "'%.24s...'", p->src + t->start);
  else
    snprintf(buf, sz, "'%.*s'", n, p->src + t->start);
}

static bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}

/* A quoted string at p->pos (quote c): decoded into the arena; *i moves
 * past the closing quote. */
static bool lex_string(struct parser *p, struct tok *t, size_t *ip, char c) {
  const char *s = p->src;
  size_t i = *ip;
  char *buf = shoal_arena_alloc(&p->e->ar, p->len - p->pos + 1);
  if (!buf)
    return oom(p);
  size_t o = 0;
  i++;
  for (;;) {
    if (i >= p->len)
      return perr(p, SHOAL_EINPUT, p->pos, "unterminated string", NULL, NULL);
    char d = s[i++];
    if (d == c)
      break;
    if (d == '\\') {
      if (i >= p->len)
        return perr(p, SHOAL_EINPUT, p->pos, "unterminated string", NULL, NULL);
      d = s[i++];
      if (d == 'n')
        d = '\n';
      else if (d == 't')
        d = '\t';
    }
    buf[o++] = d;
  }
  buf[o] = '\0';
  t->k = T_STR;
  t->str = buf;
  t->slen = o;
  *ip = i;
  return true;
}

/* A name (dotted path) or keyword at p->pos; *i moves past it. */
static bool lex_name(struct parser *p, struct tok *t, size_t *ip) {
  const char *s = p->src;
  size_t i = *ip;
  for (;;) {
    while (i < p->len && name_char(s[i]))
      i++;
    if (i < p->len && s[i] == '.') {
      if (i + 1 >= p->len || !name_start(s[i + 1]))
        return perr(p, SHOAL_EINPUT, i + 1, "expected a name after '.'", NULL, NULL);
      i++;
      continue;
    }
    break;
  }
  size_t n = i - p->pos;
  static const struct {
    const char *w;
    enum tk k;
  } kw[] = {{"and", T_AND},   {"or", T_OR},       {"not", T_NOT},  {"in", T_IN},
            {"true", T_TRUE}, {"false", T_FALSE}, {"null", T_NULL}};
  t->k = T_NAME;
  for (size_t j = 0; j < sizeof kw / sizeof kw[0]; j++)
    if (strlen(kw[j].w) == n && memcmp(kw[j].w, s + p->pos, n) == 0)
      t->k = kw[j].k;
  if (t->k == T_NAME) {
    t->str = shoal_arena_alloc(&p->e->ar, n + 1);
    if (!t->str)
      return oom(p);
    memcpy(t->str, s + p->pos, n);
    t->str[n] = '\0';
    t->slen = n;
  }
  *ip = i;
  return true;
}

/* A punctuation or operator token starting with c (c2 the next byte, or
 * NUL); *i is already past c. */
static bool lex_operator(struct parser *p, struct tok *t, size_t *ip, char c, char c2) {
  const char *s = p->src;
  size_t i = *ip;
  switch (c) {
  case '(':
    t->k = T_LP;
    break;
  case ')':
    t->k = T_RP;
    break;
  case '[':
    t->k = T_LB;
    break;
  case ']':
    t->k = T_RB;
    break;
  case ',':
    t->k = T_COMMA;
    break;
  case '+':
    t->k = T_PLUS;
    break;
  case '-':
    t->k = T_MINUS;
    break;
  case '*':
    t->k = T_STAR;
    break;
  case '/':
    t->k = T_SLASH;
    break;
  case '=':
    if (c2 != '=')
      return perr(p, SHOAL_EINPUT, p->pos, "expected '==' (a single '=' is not an operator)", NULL,
                  NULL);
    i++;
    t->k = T_EQ;
    break;
  case '!':
    if (c2 != '=')
      return perr(p, SHOAL_EINPUT, p->pos, "expected '!=' (use 'not' for negation)", NULL, NULL);
    i++;
    t->k = T_NE;
    break;
  case '<':
    t->k = T_LT;
    if (c2 == '=') {
      i++;
      t->k = T_LE;
    }
    break;
  case '>':
    t->k = T_GT;
    if (c2 == '=') {
      i++;
      t->k = T_GE;
    }
    break;
  default: {
    char ch[8];
    int n = 1;
    unsigned char u = (unsigned char)c;
    if (u >= 0xC0)
      while (p->pos + (size_t)n < p->len && ((unsigned char)s[p->pos + n] & 0xC0) == 0x80 && n < 4)
        n++;
    snprintf(ch, sizeof ch, "%.*s", n, s + p->pos);
    return perr(p, SHOAL_EINPUT, p->pos, "expected a value or an operator, found '%s'", ch, NULL);
  }
  }
  *ip = i;
  return true;
}

static bool lex(struct parser *p) {
  const char *s = p->src;
  while (p->pos < p->len &&
         (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r'))
    p->pos++;
  struct tok t = {.start = p->pos};
  if (p->pos >= p->len) {
    t.k = T_END;
    t.end = p->pos;
    p->cur = t;
    return true;
  }
  char c = s[p->pos];
  char c2 = p->pos + 1 < p->len ? s[p->pos + 1] : '\0';
  size_t i = p->pos;
  if (c >= '0' && c <= '9') {
    while (i < p->len && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i + 1 < p->len && s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
      i++;
      while (i < p->len && s[i] >= '0' && s[i] <= '9')
        i++;
    }
    t.k = T_NUM;
  } else if (c == '\'' || c == '"') {
    if (!lex_string(p, &t, &i, c))
      return false;
  } else if (name_start(c)) {
    if (!lex_name(p, &t, &i))
      return false;
  } else {
    i++;
    if (!lex_operator(p, &t, &i, c, c2))
      return false;
  }
  t.end = i;
  p->pos = i;
  p->cur = t;
  return true;
}

/* ---- parser -------------------------------------------------------------- */

static struct node *new_node(struct parser *p, enum op op) {
  if (++p->nodes > SHOAL_EXPR_MAX_NODES) {
    perr(p, SHOAL_ELIMIT, p->cur.start, "expression is too long (over %s parts)", MAX_NODES_TEXT,
         NULL);
    return NULL;
  }
  struct node *n = shoal_arena_alloc(&p->e->ar, sizeof *n);
  if (!n) {
    oom(p);
    return NULL;
  }
  memset(n, 0, sizeof *n);
  n->op = op;
  return n;
}

static bool expect_fail(struct parser *p, const char *what) {
  char d[64];
  tok_desc(p, &p->cur, d, sizeof d);
  return perr(p, SHOAL_EINPUT, p->cur.start, "expected %s, found %s", what, d);
}

static bool add_name(struct parser *p, const char *name) {
  struct shoal_expr *e = p->e;
  for (size_t i = 0; i < e->nnames; i++)
    if (strcmp(e->names[i], name) == 0)
      return true;
  const char **nn = realloc(e->names, (e->nnames + 1) * sizeof *nn);
  if (!nn)
    return oom(p);
  e->names = nn;
  e->names[e->nnames++] = name;
  return true;
}

static struct node *parse_or(struct parser *p);

static bool enter(struct parser *p) {
  if (++p->depth > SHOAL_EXPR_MAX_DEPTH)
    return perr(p, SHOAL_ELIMIT, p->cur.start, "expression nests too deeply", NULL, NULL);
  return true;
}

/* A list literal "[a, b, ...]" (the current token is '['). */
static struct node *parse_list(struct parser *p) {
  struct node *n = NULL;
  if (!(n = new_node(p, N_LIST)) || !lex(p))
    return NULL;
  size_t cap = 0;
  if (p->cur.k != T_RB) {
    for (;;) {
      struct node *k = parse_or(p);
      if (!k)
        return NULL;
      if (n->nkids == cap) {
        size_t ncap = cap ? cap * 2 : 4;
        struct node **kids = shoal_arena_alloc(&p->e->ar, ncap * sizeof *kids);
        if (!kids) {
          oom(p);
          return NULL;
        }
        if (n->nkids)
          memcpy(kids, n->kids, n->nkids * sizeof *kids);
        n->kids = kids;
        cap = ncap;
      }
      n->kids[n->nkids++] = k;
      if (p->cur.k == T_COMMA) {
        if (!lex(p))
          return NULL;
        continue;
      }
      if (p->cur.k != T_RB) {
        expect_fail(p, "',' or ']'");
        return NULL;
      }
      break;
    }
  }
  return lex(p) ? n : NULL;
}

/* A name, or a call len(x) / contains(a, b) / empty(x) (the current
 * token is the name t). */
static struct node *parse_name_or_call(struct parser *p, struct tok t) {
  struct node *n = NULL;
  if (!lex(p))
    return NULL;
  if (p->cur.k != T_LP) {
    if (!(n = new_node(p, N_NAME)) || !add_name(p, t.str))
      return NULL;
    n->name = t.str;
    return n;
  }
  enum op op;
  int arity;
  if (strcmp(t.str, "len") == 0) {
    op = N_LEN;
    arity = 1;
  } else if (strcmp(t.str, "contains") == 0) {
    op = N_CONTAINS;
    arity = 2;
  } else if (strcmp(t.str, "empty") == 0) {
    op = N_EMPTY;
    arity = 1;
  } else {
    perr(p, SHOAL_EINPUT, t.start, "expected a function len, contains or empty, found '%s'", t.str,
         NULL);
    return NULL;
  }
  if (!(n = new_node(p, op)) || !lex(p))
    return NULL;
  for (int i = 0; i < arity; i++) {
    if (i > 0) {
      if (p->cur.k != T_COMMA) {
        char what[EXPECT_TEXT_MAX];
        snprintf(what, sizeof what, "',' (%s takes %d arguments)", t.str, arity);
        expect_fail(p, what);
        return NULL;
      }
      if (!lex(p))
        return NULL;
    }
    struct node *a = parse_or(p);
    if (!a)
      return NULL;
    if (i == 0)
      n->a = a;
    else
      n->b = a;
  }
  if (p->cur.k != T_RP) {
    char what[EXPECT_TEXT_MAX];
    snprintf(what, sizeof what, "')' (%s takes %d argument%s)", t.str, arity,
             arity == 1 ? "" : "s");
    expect_fail(p, what);
    return NULL;
  }
  return lex(p) ? n : NULL;
}

static struct node *parse_primary(struct parser *p) {
  struct tok t = p->cur;
  struct node *n = NULL;
  switch (t.k) {
  case T_NUM:
    if (!(n = new_node(p, N_LIT)))
      return NULL;
    n->lit.k = V_NUM;
    if (!dec_parse(p->src + t.start, t.end - t.start, false, &n->lit.d)) {
      perr(p, SHOAL_EINPUT, t.start, "number out of range", NULL, NULL);
      return NULL;
    }
    return lex(p) ? n : NULL;
  case T_STR:
    if (!(n = new_node(p, N_LIT)))
      return NULL;
    n->lit.k = V_STR;
    n->lit.s = t.str;
    n->lit.slen = t.slen;
    return lex(p) ? n : NULL;
  case T_TRUE:
  case T_FALSE:
  case T_NULL:
    if (!(n = new_node(p, N_LIT)))
      return NULL;
    n->lit = t.k == T_NULL ? VNULL : vbool(t.k == T_TRUE);
    return lex(p) ? n : NULL;
  case T_LP:
    if (!lex(p) || !(n = parse_or(p)))
      return NULL;
    if (p->cur.k != T_RP) {
      expect_fail(p, "')'");
      return NULL;
    }
    return lex(p) ? n : NULL;
  case T_LB:
    return parse_list(p);
  case T_NAME:
    return parse_name_or_call(p, t);
  default:
    expect_fail(p, "a value");
    return NULL;
  }
}

static struct node *parse_unary(struct parser *p) {
  if (p->cur.k != T_MINUS)
    return parse_primary(p);
  if (!enter(p) || !lex(p))
    return NULL;
  struct node *n = new_node(p, N_NEG);
  if (!n || !(n->a = parse_unary(p)))
    return NULL;
  p->depth--;
  return n;
}

static struct node *parse_mul(struct parser *p) {
  struct node *l = parse_unary(p);
  while (l && (p->cur.k == T_STAR || p->cur.k == T_SLASH)) {
    struct node *n = new_node(p, p->cur.k == T_STAR ? N_MUL : N_DIV);
    if (!n || !lex(p))
      return NULL;
    n->a = l;
    if (!(n->b = parse_unary(p)))
      return NULL;
    l = n;
  }
  return l;
}

static struct node *parse_add(struct parser *p) {
  struct node *l = parse_mul(p);
  while (l && (p->cur.k == T_PLUS || p->cur.k == T_MINUS)) {
    struct node *n = new_node(p, p->cur.k == T_PLUS ? N_ADD : N_SUB);
    if (!n || !lex(p))
      return NULL;
    n->a = l;
    if (!(n->b = parse_mul(p)))
      return NULL;
    l = n;
  }
  return l;
}

static bool is_cmp(enum tk k) {
  return k == T_EQ || k == T_NE || k == T_LT || k == T_LE || k == T_GT || k == T_GE || k == T_IN ||
         k == T_NOT;
}

static struct node *parse_cmp(struct parser *p) {
  struct node *l = parse_add(p);
  if (!l || !is_cmp(p->cur.k))
    return l;
  enum op op;
  switch (p->cur.k) {
  case T_EQ:
    op = N_EQ;
    break;
  case T_NE:
    op = N_NE;
    break;
  case T_LT:
    op = N_LT;
    break;
  case T_LE:
    op = N_LE;
    break;
  case T_GT:
    op = N_GT;
    break;
  case T_GE:
    op = N_GE;
    break;
  case T_IN:
    op = N_IN;
    break;
  default: /* T_NOT: only as "not in" here */
    if (!lex(p))
      return NULL;
    if (p->cur.k != T_IN) {
      expect_fail(p, "'in' after 'not'");
      return NULL;
    }
    op = N_NOTIN;
    break;
  }
  struct node *n = new_node(p, op);
  if (!n || !lex(p))
    return NULL;
  n->a = l;
  if (!(n->b = parse_add(p)))
    return NULL;
  if (is_cmp(p->cur.k)) {
    char d[64];
    tok_desc(p, &p->cur, d, sizeof d);
    perr(p, SHOAL_EINPUT, p->cur.start,
         "expected 'and', 'or' or end of expression, found %s (comparisons do not chain)", d, NULL);
    return NULL;
  }
  return n;
}

static struct node *parse_not(struct parser *p) {
  if (p->cur.k != T_NOT)
    return parse_cmp(p);
  if (!enter(p) || !lex(p))
    return NULL;
  struct node *n = new_node(p, N_NOT);
  if (!n || !(n->a = parse_not(p)))
    return NULL;
  p->depth--;
  return n;
}

static struct node *parse_and(struct parser *p) {
  struct node *l = parse_not(p);
  while (l && p->cur.k == T_AND) {
    struct node *n = new_node(p, N_AND);
    if (!n || !lex(p))
      return NULL;
    n->a = l;
    if (!(n->b = parse_not(p)))
      return NULL;
    l = n;
  }
  return l;
}

static struct node *parse_or(struct parser *p) {
  if (!enter(p))
    return NULL;
  struct node *l = parse_and(p);
  while (l && p->cur.k == T_OR) {
    struct node *n = new_node(p, N_OR);
    if (!n || !lex(p))
      return NULL;
    n->a = l;
    if (!(n->b = parse_and(p)))
      return NULL;
    l = n;
  }
  p->depth--;
  return l;
}

shoal_err shoal_expr_compile(const char *text, shoal_expr **out, shoal_diag *diag) {
  if (!text)
    return shoal_fail(diag, SHOAL_EINPUT, "missing expression");
  size_t len = strlen(text);
  if (len > SHOAL_EXPR_MAX_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "expression of %zu bytes is over the limit of %d", len,
                      SHOAL_EXPR_MAX_BYTES);
  shoal_expr *e = calloc(1, sizeof *e);
  if (!e || !(e->text = malloc(len + 1))) {
    free(e);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory compiling an expression");
  }
  memcpy(e->text, text, len + 1);
  struct parser p = {.src = e->text, .len = len, .e = e, .diag = diag};
  if (lex(&p)) {
    if (p.cur.k == T_END) {
      perr(&p, SHOAL_EINPUT, 0, "expected an expression, found end of expression", NULL, NULL);
    } else if ((e->root = parse_or(&p)) != NULL && p.cur.k != T_END) {
      expect_fail(&p, "an operator or end of expression");
    }
  }
  if (p.err != SHOAL_OK) {
    shoal_expr_free(e);
    return p.err;
  }
  *out = e;
  return SHOAL_OK;
}

void shoal_expr_free(shoal_expr *e) {
  if (!e)
    return;
  shoal_arena_free(&e->ar);
  free(e->names);
  free(e->text);
  free(e);
}

const char *shoal_expr_text(const shoal_expr *e) {
  return e->text;
}

size_t shoal_expr_name_count(const shoal_expr *e) {
  return e->nnames;
}

const char *shoal_expr_name_at(const shoal_expr *e, size_t i) {
  return i < e->nnames ? e->names[i] : NULL;
}

/* ---- evaluation ---------------------------------------------------------- */

struct ev {
  struct shoal_arena ar;
  const cJSON *env;
  shoal_diag *diag;
  shoal_err err;
};

static bool ev_fail(struct ev *ev) {
  if (ev->err == SHOAL_OK) {
    if (ev->ar.over)
      ev->err = shoal_fail(ev->diag, SHOAL_ELIMIT, "expression evaluation needs more than %d bytes",
                           SHOAL_EXPR_EVAL_MAX_BYTES);
    else
      ev->err = shoal_fail(ev->diag, SHOAL_ENOMEM, "out of memory evaluating an expression");
  }
  return false;
}

/* Looks name up in obj: the whole name as a key first, then the part
 * before each dot followed into a nested object. */
static const cJSON *lookup(const cJSON *obj, const char *name, size_t len) {
  if (!cJSON_IsObject(obj))
    return NULL;
  const cJSON *c;
  cJSON_ArrayForEach(c, obj) {
    if (c->string && strlen(c->string) == len && memcmp(c->string, name, len) == 0)
      return c;
  }
  for (size_t i = 0; i < len; i++) {
    if (name[i] != '.')
      continue;
    cJSON_ArrayForEach(c, obj) {
      if (c->string && strlen(c->string) == i && memcmp(c->string, name, i) == 0 &&
          cJSON_IsObject(c)) {
        const cJSON *r = lookup(c, name + i + 1, len - i - 1);
        if (r)
          return r;
      }
    }
  }
  return NULL;
}

static bool val_from_json(struct ev *ev, const cJSON *j, int depth, struct val *out) {
  *out = VNULL;
  if (!j || cJSON_IsNull(j) || cJSON_IsInvalid(j))
    return true;
  if (cJSON_IsBool(j)) {
    *out = vbool(cJSON_IsTrue(j));
  } else if (cJSON_IsNumber(j)) {
    if (dec_from_double(j->valuedouble, &out->d))
      out->k = V_NUM;
  } else if (cJSON_IsRaw(j)) {
    if (j->valuestring && dec_parse(j->valuestring, strlen(j->valuestring), true, &out->d))
      out->k = V_NUM;
  } else if (cJSON_IsString(j)) {
    out->k = V_STR;
    out->s = j->valuestring ? j->valuestring : "";
    out->slen = strlen(out->s);
  } else if (cJSON_IsArray(j)) {
    if (depth > SHOAL_EXPR_MAX_DEPTH)
      return true; /* too deep to be data anyone tests: null */
    size_t n = (size_t)cJSON_GetArraySize(j);
    struct val *items = NULL;
    if (n) {
      items = shoal_arena_alloc(&ev->ar, n * sizeof *items);
      if (!items)
        return ev_fail(ev);
    }
    size_t i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, j) {
      if (!val_from_json(ev, c, depth + 1, &items[i++]))
        return false;
    }
    out->k = V_LIST;
    out->items = items;
    out->n = n;
  } else if (cJSON_IsObject(j)) {
    out->k = V_OBJ;
    out->obj = j;
  }
  return true;
}

static bool eval(struct ev *ev, const struct node *n, struct val *out);

static bool eval_in(const struct val *x, const struct val *c) {
  if (c->k == V_LIST) {
    for (size_t i = 0; i < c->n; i++)
      if (val_eq(x, &c->items[i]))
        return true;
    return false;
  }
  if (c->k == V_STR && x->k == V_STR)
    return str_contains(c->s, c->slen, x->s, x->slen);
  return false;
}

/* Leaves, lists, the short-circuit and/or and the one-operand operators. */
static bool eval_unary(struct ev *ev, const struct node *n, struct val *out) {
  struct val a, b;
  switch (n->op) {
  case N_LIT:
    *out = n->lit;
    return true;
  case N_NAME:
    return val_from_json(ev, lookup(ev->env, n->name, strlen(n->name)), 0, out);
  case N_LIST: {
    struct val *items = NULL;
    if (n->nkids && !(items = shoal_arena_alloc(&ev->ar, n->nkids * sizeof *items)))
      return ev_fail(ev);
    for (size_t i = 0; i < n->nkids; i++)
      if (!eval(ev, n->kids[i], &items[i]))
        return false;
    out->k = V_LIST;
    out->items = items;
    out->n = n->nkids;
    return true;
  }
  case N_OR:
  case N_AND:
    if (!eval(ev, n->a, &a))
      return false;
    if (val_truthy(&a) == (n->op == N_OR)) {
      *out = vbool(n->op == N_OR);
      return true;
    }
    if (!eval(ev, n->b, &b))
      return false;
    *out = vbool(val_truthy(&b));
    return true;
  case N_NOT:
    if (!eval(ev, n->a, &a))
      return false;
    *out = vbool(!val_truthy(&a));
    return true;
  case N_NEG:
    if (!eval(ev, n->a, &a))
      return false;
    if (a.k == V_NUM) {
      out->k = V_NUM;
      out->d = a.d;
      out->d.m = -a.d.m;
    }
    return true;
  case N_LEN:
    if (!eval(ev, n->a, &a))
      return false;
    {
      size_t len;
      if (a.k == V_NULL)
        len = 0;
      else if (a.k == V_STR)
        len = utf8_chars(a.s, a.slen);
      else if (a.k == V_LIST)
        len = a.n;
      else if (a.k == V_OBJ)
        len = (size_t)cJSON_GetArraySize(a.obj);
      else
        return true; /* len of a number or bool: null */
      out->k = V_NUM;
      out->d.m = (i128)len;
      out->d.scale = 0;
    }
    return true;
  case N_EMPTY:
    if (!eval(ev, n->a, &a))
      return false;
    *out = vbool(a.k == V_NULL || (a.k == V_STR && a.slen == 0) || (a.k == V_LIST && a.n == 0) ||
                 (a.k == V_OBJ && !a.obj->child));
    return true;
  default:
    return true;
  }
}

/* <, <=, >, >= of two numbers or two strings (bytewise); false otherwise. */
static void eval_compare(enum op op, const struct val *a, const struct val *b, struct val *out) {
  int c;
  if (a->k == V_NUM && b->k == V_NUM) {
    c = dec_cmp(a->d, b->d);
  } else if (a->k == V_STR && b->k == V_STR) {
    size_t m = a->slen < b->slen ? a->slen : b->slen;
    c = memcmp(a->s, b->s, m);
    if (c == 0)
      c = a->slen < b->slen ? -1 : a->slen > b->slen;
  } else {
    *out = vbool(false);
    return;
  }
  bool r = op == N_LT ? c < 0 : op == N_LE ? c <= 0 : op == N_GT ? c > 0 : c >= 0;
  *out = vbool(r);
}

/* + (numbers, or two strings joined), -, *, /: null unless both are numbers
 * and the result is in range. */
static bool eval_arith(struct ev *ev, enum op op, const struct val *a, const struct val *b,
                       struct val *out) {
  if (op == N_ADD && a->k == V_STR && b->k == V_STR) {
    if (a->slen + b->slen > SHOAL_EXPR_EVAL_MAX_BYTES / 2) {
      ev->ar.over = true;
      return ev_fail(ev);
    }
    char *s = shoal_arena_alloc(&ev->ar, a->slen + b->slen + 1);
    if (!s)
      return ev_fail(ev);
    memcpy(s, a->s, a->slen);
    memcpy(s + a->slen, b->s, b->slen);
    s[a->slen + b->slen] = '\0';
    out->k = V_STR;
    out->s = s;
    out->slen = a->slen + b->slen;
    return true;
  }
  if (a->k != V_NUM || b->k != V_NUM)
    return true; /* null */
  bool ok;
  struct dec r;
  if (op == N_ADD || op == N_SUB)
    ok = dec_add(a->d, b->d, op == N_SUB, &r);
  else if (op == N_MUL)
    ok = dec_mul(a->d, b->d, &r);
  else
    ok = dec_div(a->d, b->d, &r);
  if (ok) {
    out->k = V_NUM;
    out->d = r;
  }
  return true;
}

/* Operators that evaluate both operands first. */
static bool eval_binary(struct ev *ev, const struct node *n, struct val *out) {
  struct val a, b;
  if (!eval(ev, n->a, &a) || !eval(ev, n->b, &b))
    return false;
  switch (n->op) {
  case N_EQ:
    *out = vbool(val_eq(&a, &b));
    return true;
  case N_NE:
    *out = vbool(!val_eq(&a, &b));
    return true;
  case N_LT:
  case N_LE:
  case N_GT:
  case N_GE:
    eval_compare(n->op, &a, &b, out);
    return true;
  case N_IN:
    *out = vbool(eval_in(&a, &b));
    return true;
  case N_NOTIN:
    *out = vbool(!eval_in(&a, &b));
    return true;
  case N_CONTAINS:
    if (a.k == V_STR && b.k == V_STR)
      *out = vbool(str_contains(a.s, a.slen, b.s, b.slen));
    else if (a.k == V_LIST)
      *out = vbool(eval_in(&b, &a));
    else
      *out = vbool(false);
    return true;
  case N_ADD:
  case N_SUB:
  case N_MUL:
  case N_DIV:
    return eval_arith(ev, n->op, &a, &b, out);
  default:
    return true;
  }
}

static bool eval(struct ev *ev, const struct node *n, struct val *out) {
  *out = VNULL;
  switch (n->op) {
  case N_LIT:
  case N_NAME:
  case N_LIST:
  case N_OR:
  case N_AND:
  case N_NOT:
  case N_NEG:
  case N_LEN:
  case N_EMPTY:
    return eval_unary(ev, n, out);
  default:
    return eval_binary(ev, n, out);
  }
}

static cJSON *val_to_json(const struct val *v) {
  switch (v->k) {
  case V_NULL:
    return cJSON_CreateNull();
  case V_BOOL:
    return cJSON_CreateBool(v->b);
  case V_NUM: {
    char buf[64];
    dec_format(v->d, buf);
    return cJSON_CreateRaw(buf);
  }
  case V_STR: {
    char *s = malloc(v->slen + 1);
    if (!s)
      return NULL;
    memcpy(s, v->s, v->slen);
    s[v->slen] = '\0';
    cJSON *j = cJSON_CreateString(s);
    free(s);
    return j;
  }
  case V_LIST: {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < v->n; i++) {
      cJSON *c = val_to_json(&v->items[i]);
      if (!c) {
        cJSON_Delete(arr);
        return NULL;
      }
      cJSON_AddItemToArray(arr, c);
    }
    return arr;
  }
  case V_OBJ:
    return cJSON_Duplicate(v->obj, true);
  }
  return NULL;
}

static shoal_err run(const shoal_expr *e, const cJSON *env, struct ev *ev, struct val *out,
                     shoal_diag *diag) {
  ev->ar.limit = SHOAL_EXPR_EVAL_MAX_BYTES;
  ev->env = env;
  ev->diag = diag;
  ev->err = SHOAL_OK;
  if (!eval(ev, e->root, out))
    return ev->err != SHOAL_OK ? ev->err : SHOAL_EINTERNAL;
  return SHOAL_OK;
}

shoal_err shoal_expr_eval(const shoal_expr *e, const cJSON *env, cJSON **out, shoal_diag *diag) {
  struct ev ev = {0};
  struct val v;
  shoal_err rc = run(e, env, &ev, &v, diag);
  if (rc == SHOAL_OK) {
    cJSON *j = val_to_json(&v);
    if (!j)
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory evaluating an expression");
    else
      *out = j;
  }
  shoal_arena_free(&ev.ar);
  return rc;
}

shoal_err shoal_expr_test(const shoal_expr *e, const cJSON *env, bool *out, shoal_diag *diag) {
  struct ev ev = {0};
  struct val v;
  shoal_err rc = run(e, env, &ev, &v, diag);
  if (rc == SHOAL_OK)
    *out = val_truthy(&v);
  shoal_arena_free(&ev.ar);
  return rc;
}

bool shoal_expr_truthy(const cJSON *v) {
  if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v) || cJSON_IsInvalid(v))
    return false;
  if (cJSON_IsTrue(v))
    return true;
  if (cJSON_IsNumber(v))
    return v->valuedouble != 0;
  if (cJSON_IsRaw(v)) {
    struct dec d;
    if (v->valuestring && dec_parse(v->valuestring, strlen(v->valuestring), true, &d))
      return d.m != 0;
    return true;
  }
  if (cJSON_IsString(v))
    return v->valuestring && v->valuestring[0];
  return v->child != NULL; /* array or object */
}
