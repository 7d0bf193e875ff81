/* store_pg.c - the PostgreSQL backend of the hub storage interface (libpq).
 * - SQL arrives in the one dialect hub code writes (store.h): `?`/`?N`
 *   placeholders become $n and `INSERT OR IGNORE` becomes ON CONFLICT DO
 *   NOTHING; parameters travel as text (blobs as binary bytea);
 * - a statement's result is fetched whole when it first steps, then walked
 *   row by row (hub queries are bounded by LIMITs);
 * - writers are serialized by a transaction advisory lock, so every hub on
 *   one database keeps SQLite's one-writer semantics;
 * - a connection lost inside a transaction poisons it until rollback (the
 *   caller never commits - or acknowledges - half a batch), and is
 *   re-established at the next statement outside a transaction;
 * - errors are translated to shoal_err at the boundary (hub_store_fail). */
#include <libpq-fe.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/db.h"
#include "shoal/util.h"
#include "store_int.h"

extern const struct shoal_migration hub_migrations[];
extern const size_t hub_migrations_count;

extern const struct shoal_migration hub_pg_migrations[];
extern const size_t hub_pg_migrations_count;

#define PG_MAX_PARAMS 999
#define WRITER_LOCK   0x73686f616c01LL /* "shoal" 01: the writers' transaction lock */
#define MIGRATE_LOCK  0x73686f616c02LL /* "shoal" 02: one hub migrates at a time */
#define OID_BOOL      16
#define OID_BYTEA     17
#define OID_INT8      20
#define OID_INT2      21
#define OID_INT4      23
#define OID_TEXT      25
#define OID_FLOAT4    700
#define OID_FLOAT8    701
#define OID_NUMERIC   1700

struct pg_store {
  hub_store base;
  PGconn *conn;
  char *uri;
  char err[512];
  int64_t changes;
  bool in_tx;              /* BEGIN sent, no COMMIT/ROLLBACK yet */
  bool broken_tx;          /* the connection was lost inside the transaction */
  bool lock_held;          /* hub_store_try_lock holds its session lock */
  const int64_t *deadline; /* hub_store_set_deadline, or NULL */
  int64_t timeout_set;     /* statement_timeout in force (ms, 0 = none) */
};

struct pg_stmt {
  hub_stmt base;
  char *sql; /* rewritten */
  int nparams;
  Oid *types;
  char **vals;
  int *lens, *fmts;
  PGresult *res;
  int row, nrows;
  bool done;
  int blob_col, blob_row; /* which cell blob holds, decoded */
  unsigned char *blob;
  size_t blob_len;
};

#define PGS(x) ((struct pg_store *)(x))

static void apply_deadline(struct pg_store *s);
#define PST(x) ((struct pg_stmt *)(x))

static void quiet_notices(void *arg, const char *msg) {
  (void)arg;
  (void)msg;
}

static void set_err(struct pg_store *s, const char *msg) {
  snprintf(s->err, sizeof s->err, "%s", msg && *msg ? msg : "unknown PostgreSQL error");
  size_t n = strlen(s->err);
  while (n && (s->err[n - 1] == '\n' || s->err[n - 1] == ' '))
    s->err[--n] = '\0';
}

/* Maps a failed result to a SQLite-shaped code (for hub_store_fail). */
static int code_of(PGresult *res) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (!state)
    return HUB_STORE_ERROR;
  if (strcmp(state, "53100") == 0) /* disk_full */
    return HUB_STORE_FULL;
  if (strncmp(state, "23", 2) == 0)
    return HUB_STORE_CONSTRAINT;
  if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
    return HUB_STORE_BUSY;
  return HUB_STORE_ERROR;
}

static int session_setup(struct pg_store *s) {
  s->timeout_set = 0;
  PQsetNoticeProcessor(s->conn, quiet_notices, NULL);
  PGresult *r = PQexec(s->conn, "SET TIME ZONE 'UTC'");
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok)
    set_err(s, PQresultErrorMessage(r));
  PQclear(r);
  return ok;
}

/* Before a statement: a lost connection inside a transaction fails every
 * statement until rollback; outside one it is re-established. */
static int ensure_conn(struct pg_store *s) {
  if (s->broken_tx) {
    set_err(s, "connection to PostgreSQL lost inside the transaction; rolled back");
    return HUB_STORE_ERROR;
  }
  if (PQstatus(s->conn) == CONNECTION_OK)
    return HUB_STORE_OK;
  s->lock_held = false;
  PQreset(s->conn);
  if (PQstatus(s->conn) != CONNECTION_OK) {
    set_err(s, PQerrorMessage(s->conn));
    return HUB_STORE_ERROR;
  }
  return session_setup(s) ? HUB_STORE_OK : HUB_STORE_ERROR;
}

/* After a failed statement: note a lost connection. */
static void note_failure(struct pg_store *s, PGresult *res) {
  set_err(s, res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn));
  if (PQstatus(s->conn) != CONNECTION_OK) {
    s->lock_held = false;
    if (s->in_tx)
      s->broken_tx = true;
  }
}

/* Runs sql without parameters; *out gets the result when wanted. */
static int run(struct pg_store *s, const char *sql, PGresult **out) {
  int rc = ensure_conn(s);
  if (rc != HUB_STORE_OK)
    return rc;
  PGresult *r = PQexec(s->conn, sql);
  ExecStatusType t = PQresultStatus(r);
  if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
    note_failure(s, r);
    rc = code_of(r);
    PQclear(r);
    return rc;
  }
  if (out)
    *out = r;
  else
    PQclear(r);
  return HUB_STORE_OK;
}

/* ------------------------------------------------------------ SQL rewrite */

static bool word_at(const char *p, const char *w) {
  size_t n = strlen(w);
  return strncasecmp(p, w, n) == 0 &&
         !(p[n] == '_' || (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= 'a' && p[n] <= 'z') ||
           (p[n] >= '0' && p[n] <= '9'));
}

/* Rewrites the hub dialect to PostgreSQL's; *nparams: the highest $n;
 * used[n] set for each $n written. NULL when out of memory or too many
 * parameters. */
static char *rewrite(const char *sql, int *nparams, unsigned char *used) {
  size_t len = strlen(sql);
  char *out = malloc(len * 4 + 64), *o = out;
  if (!out)
    return NULL;
  int maxp = 0;
  bool ignore = false;
  for (const char *p = sql; *p;) {
    if (*p == '\'' || *p == '"') { /* literal or quoted name: copied as is */
      char q = *p;
      *o++ = *p++;
      while (*p) {
        if (*p == q && p[1] == q) {
          *o++ = *p++;
          *o++ = *p++;
        } else if (*p == q) {
          break;
        } else {
          *o++ = *p++;
        }
      }
      if (*p)
        *o++ = *p++;
    } else if (p[0] == '-' && p[1] == '-') {
      while (*p && *p != '\n')
        *o++ = *p++;
    } else if (*p == '?') {
      p++;
      int n = 0;
      if (*p >= '0' && *p <= '9') {
        while (*p >= '0' && *p <= '9' && n <= PG_MAX_PARAMS)
          n = n * 10 + (*p++ - '0');
      } else {
        n = maxp + 1;
      }
      if (n < 1 || n > PG_MAX_PARAMS) {
        free(out);
        return NULL;
      }
      if (n > maxp)
        maxp = n;
      used[n] = 1;
      /* SQLite's `x IS ?` / `x IS NOT ?` (NULL-safe comparison). */
      const char *b = o;
      while (b > out && b[-1] == ' ')
        b--;
      if (b - out >= 7 && strncasecmp(b - 7, " IS NOT", 7) == 0)
        o = (char *)b - 7 + sprintf((char *)b - 7, " IS DISTINCT FROM ");
      else if (b - out >= 3 && strncasecmp(b - 3, " IS", 3) == 0)
        o = (char *)b - 3 + sprintf((char *)b - 3, " IS NOT DISTINCT FROM ");
      o += sprintf(o, "$%d", n);
    } else if ((p == sql || !((p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= 'a' && p[-1] <= 'z') ||
                              p[-1] == '_')) &&
               word_at(p, "INSERT")) {
      memcpy(o, p, 6);
      o += 6;
      p += 6;
      const char *q = p;
      while (*q == ' ' || *q == '\n' || *q == '\t')
        q++;
      if (word_at(q, "OR")) {
        const char *r = q + 2;
        while (*r == ' ' || *r == '\n' || *r == '\t')
          r++;
        if (word_at(r, "IGNORE")) {
          ignore = true;
          p = r + 6;
        }
      }
    } else if (word_at(p, "BEGIN") && (p == sql)) {
      const char *q = p + 5;
      while (*q == ' ')
        q++;
      memcpy(o, "BEGIN", 5);
      o += 5;
      p += 5;
      if (word_at(q, "IMMEDIATE"))
        p = q + 9;
    } else {
      *o++ = *p++;
    }
  }
  while (o > out && (o[-1] == ';' || o[-1] == ' ' || o[-1] == '\n'))
    o--;
  if (ignore)
    o += sprintf(o, " ON CONFLICT DO NOTHING");
  *o = '\0';
  *nparams = maxp;
  return out;
}

/* ------------------------------------------------------------ statements */

static void clear_result(struct pg_stmt *st) {
  PQclear(st->res);
  st->res = NULL;
  st->row = -1;
  st->nrows = 0;
  st->done = false;
  free(st->blob);
  st->blob = NULL;
  st->blob_col = -1;
}

static shoal_err pg_prepare(hub_store *db, const char *sql, hub_stmt **out, shoal_diag *diag) {
  unsigned char used[PG_MAX_PARAMS + 1] = {0};
  int n = 0;
  struct pg_stmt *st = calloc(1, sizeof *st);
  if (!st)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  st->base.vt = &hub_store__pg;
  st->base.db = db;
  st->blob_col = -1;
  st->row = -1;
  if (!(st->sql = rewrite(sql, &n, used))) {
    free(st);
    return shoal_fail(diag, SHOAL_EDB, "prepare: out of memory or over %d parameters: %.80s",
                      PG_MAX_PARAMS, sql);
  }
  st->nparams = n;
  if (n > 0) {
    st->types = calloc((size_t)n, sizeof *st->types);
    st->vals = calloc((size_t)n, sizeof *st->vals);
    st->lens = calloc((size_t)n, sizeof *st->lens);
    st->fmts = calloc((size_t)n, sizeof *st->fmts);
    if (!st->types || !st->vals || !st->lens || !st->fmts) {
      hub_store__pg.finalize(&st->base);
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    }
    /* A number nothing refers to ("?3" alone) cannot have its type
     * inferred: call it text. */
    for (int i = 0; i < n; i++)
      st->types[i] = used[i + 1] ? 0 : OID_TEXT;
  }
  *out = &st->base;
  return SHOAL_OK;
}

static int set_param(hub_stmt *h, int i, const void *v, int len, int fmt) {
  struct pg_stmt *st = PST(h);
  if (i < 1 || i > st->nparams)
    return HUB_STORE_RANGE;
  free(st->vals[i - 1]);
  st->vals[i - 1] = NULL;
  st->lens[i - 1] = 0;
  st->fmts[i - 1] = fmt;
  if (v) {
    char *c = malloc((size_t)len + 1);
    if (!c)
      return HUB_STORE_NOMEM;
    memcpy(c, v, (size_t)len);
    c[len] = '\0';
    st->vals[i - 1] = c;
    st->lens[i - 1] = len;
  }
  return HUB_STORE_OK;
}

static int pg_bind_int64(hub_stmt *st, int i, int64_t v) {
  char b[32];
  int n = snprintf(b, sizeof b, "%lld", (long long)v);
  return set_param(st, i, b, n, 0);
}
static int pg_bind_double(hub_stmt *st, int i, double v) {
  char b[40];
  int n = snprintf(b, sizeof b, "%.17g", v);
  return set_param(st, i, b, n, 0);
}
static int pg_bind_null(hub_stmt *st, int i) {
  return set_param(st, i, NULL, 0, 0);
}
static int pg_bind_text(hub_stmt *st, int i, const char *t, int len, void (*del)(void *)) {
  (void)del;
  if (!t)
    return pg_bind_null(st, i);
  return set_param(st, i, t, len < 0 ? (int)strlen(t) : len, 0);
}
static int pg_bind_blob(hub_stmt *st, int i, const void *d, int len, void (*del)(void *)) {
  (void)del;
  if (!d)
    return pg_bind_null(st, i);
  return set_param(st, i, d, len, 1);
}
static int pg_bind_parameter_count(hub_stmt *st) {
  return PST(st)->nparams;
}

static int pg_clear_bindings(hub_stmt *h) {
  struct pg_stmt *st = PST(h);
  for (int i = 0; i < st->nparams; i++) {
    free(st->vals[i]);
    st->vals[i] = NULL;
    st->lens[i] = 0;
    st->fmts[i] = 0;
  }
  return HUB_STORE_OK;
}

static int pg_step(hub_stmt *h) {
  struct pg_stmt *st = PST(h);
  struct pg_store *s = PGS(h->db);
  if (st->done) /* as SQLite: stepping a finished statement runs it again */
    clear_result(st);
  if (!st->res) {
    int rc = ensure_conn(s);
    if (rc != HUB_STORE_OK)
      return rc;
    apply_deadline(s);
    PGresult *r = PQexecParams(s->conn, st->sql, st->nparams, st->types,
                               (const char *const *)st->vals, st->lens, st->fmts, 0);
    ExecStatusType t = PQresultStatus(r);
    if (t == PGRES_TUPLES_OK) {
      st->nrows = PQntuples(r);
    } else if (t == PGRES_COMMAND_OK) {
      st->nrows = 0;
      const char *ct = PQcmdTuples(r);
      s->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
    } else {
      note_failure(s, r);
      rc = code_of(r);
      PQclear(r);
      return rc;
    }
    st->res = r;
    st->row = -1;
  }
  if (++st->row < st->nrows)
    return HUB_STORE_ROW;
  st->done = true;
  return HUB_STORE_DONE;
}

static int pg_reset(hub_stmt *st) {
  clear_result(PST(st));
  return HUB_STORE_OK;
}

static int pg_finalize(hub_stmt *h) {
  struct pg_stmt *st = PST(h);
  clear_result(st);
  if (st->vals)
    pg_clear_bindings(h);
  free(st->sql);
  free(st->types);
  free(st->vals);
  free(st->lens);
  free(st->fmts);
  free(st);
  return HUB_STORE_OK;
}

static bool have_cell(struct pg_stmt *st, int c) {
  return st->res && st->row >= 0 && st->row < st->nrows && c >= 0 && c < PQnfields(st->res);
}

static int pg_column_count(hub_stmt *st) {
  return PST(st)->res ? PQnfields(PST(st)->res) : 0;
}

static int pg_column_type(hub_stmt *h, int c) {
  struct pg_stmt *st = PST(h);
  if (!have_cell(st, c) || PQgetisnull(st->res, st->row, c))
    return HUB_STORE_NULL;
  switch (PQftype(st->res, c)) {
  case OID_BOOL:
  case OID_INT2:
  case OID_INT4:
  case OID_INT8:
    return HUB_STORE_INTEGER;
  case OID_FLOAT4:
  case OID_FLOAT8:
    return HUB_STORE_FLOAT;
  case OID_NUMERIC:
    return strchr(PQgetvalue(st->res, st->row, c), '.') ? HUB_STORE_FLOAT : HUB_STORE_INTEGER;
  case OID_BYTEA:
    return HUB_STORE_BLOB;
  default:
    return HUB_STORE_TEXT;
  }
}

static int64_t pg_column_int64(hub_stmt *h, int c) {
  struct pg_stmt *st = PST(h);
  if (!have_cell(st, c) || PQgetisnull(st->res, st->row, c))
    return 0;
  const char *v = PQgetvalue(st->res, st->row, c);
  if (PQftype(st->res, c) == OID_BOOL)
    return v[0] == 't';
  if (PQftype(st->res, c) == OID_NUMERIC || PQftype(st->res, c) == OID_FLOAT8 ||
      PQftype(st->res, c) == OID_FLOAT4)
    return (int64_t)strtod(v, NULL);
  return strtoll(v, NULL, 10);
}

static double pg_column_double(hub_stmt *h, int c) {
  struct pg_stmt *st = PST(h);
  if (!have_cell(st, c) || PQgetisnull(st->res, st->row, c))
    return 0;
  return strtod(PQgetvalue(st->res, st->row, c), NULL);
}

/* A bytea cell decoded (SQLite hands blobs back as their bytes). */
static const unsigned char *blob_of(struct pg_stmt *st, int c) {
  if (st->blob && st->blob_col == c && st->blob_row == st->row)
    return st->blob;
  free(st->blob);
  st->blob = NULL;
  size_t n = 0;
  unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(st->res, st->row, c), &n);
  if (!raw)
    return NULL;
  st->blob = malloc(n + 1);
  if (st->blob) {
    memcpy(st->blob, raw, n);
    st->blob[n] = '\0';
    st->blob_len = n;
    st->blob_col = c;
    st->blob_row = st->row;
  }
  PQfreemem(raw);
  return st->blob;
}

static const unsigned char *pg_column_text(hub_stmt *h, int c) {
  struct pg_stmt *st = PST(h);
  if (!have_cell(st, c) || PQgetisnull(st->res, st->row, c))
    return NULL;
  if (PQftype(st->res, c) == OID_BYTEA)
    return blob_of(st, c);
  if (PQftype(st->res, c) == OID_BOOL)
    return (const unsigned char *)(PQgetvalue(st->res, st->row, c)[0] == 't' ? "1" : "0");
  return (const unsigned char *)PQgetvalue(st->res, st->row, c);
}

static const void *pg_column_blob(hub_stmt *h, int c) {
  return pg_column_text(h, c);
}

static int pg_column_bytes(hub_stmt *h, int c) {
  struct pg_stmt *st = PST(h);
  if (!have_cell(st, c) || PQgetisnull(st->res, st->row, c))
    return 0;
  if (PQftype(st->res, c) == OID_BYTEA)
    return blob_of(st, c) ? (int)st->blob_len : 0;
  if (PQftype(st->res, c) == OID_BOOL)
    return 1;
  return PQgetlength(st->res, st->row, c);
}

/* ------------------------------------------------------------ connection */

static int64_t pg_changes(hub_store *db) {
  return PGS(db)->changes;
}

static int64_t pg_last_insert_id(hub_store *db) {
  PGresult *r = NULL;
  int64_t id = 0;
  if (run(PGS(db), "SELECT lastval()", &r) == HUB_STORE_OK) {
    id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
  }
  return id;
}

static const char *pg_errmsg(hub_store *db) {
  return PGS(db)->err;
}

static shoal_err pg_exec(hub_store *db, const char *sql, shoal_diag *diag) {
  struct pg_store *s = PGS(db);
  bool commit = strcmp(sql, "COMMIT") == 0, rollback = strcmp(sql, "ROLLBACK") == 0;
  if (commit && s->broken_tx)
    return hub_store_fail(db, HUB_STORE_ERROR, "commit", diag);
  PGresult *r = NULL;
  int rc = run(s, strncmp(sql, "BEGIN IMMEDIATE", 15) == 0 ? "BEGIN" : sql, &r);
  if (rc != HUB_STORE_OK)
    return hub_store_fail(db, rc, "database", diag);
  /* COMMIT of a transaction a failed statement aborted answers ROLLBACK. */
  bool rolled_back = commit && strcmp(PQcmdStatus(r), "COMMIT") != 0;
  PQclear(r);
  if (commit || rollback)
    s->in_tx = false;
  if (strncmp(sql, "BEGIN", 5) == 0)
    s->in_tx = true;
  if (rolled_back) {
    set_err(s, "the transaction was aborted by an earlier error and rolled back");
    return hub_store_fail(db, HUB_STORE_ERROR, "commit", diag);
  }
  return SHOAL_OK;
}

static shoal_err pg_begin(hub_store *db, shoal_diag *diag) {
  struct pg_store *s = PGS(db);
  shoal_err rc = pg_exec(db, "BEGIN", diag);
  if (rc != SHOAL_OK)
    return rc;
  char sql[80];
  snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)WRITER_LOCK);
  int r = run(s, sql, NULL);
  if (r != HUB_STORE_OK) {
    rc = hub_store_fail(db, r, "begin", diag);
    hub_store__pg.rollback(db);
  }
  return rc;
}

static void pg_rollback(hub_store *db) {
  struct pg_store *s = PGS(db);
  if (!s->in_tx && !s->broken_tx)
    return;
  if (PQstatus(s->conn) == CONNECTION_OK)
    PQclear(PQexec(s->conn, "ROLLBACK"));
  s->in_tx = false;
  s->broken_tx = false;
}

static const char *pg_name(hub_store *db) {
  return PGS(db)->uri;
}

static int pg_in_tx(hub_store *db) {
  return PGS(db)->in_tx || PGS(db)->broken_tx;
}

static void pg_set_deadline(hub_store *db, const int64_t *deadline_mono_ms) {
  PGS(db)->deadline = deadline_mono_ms;
}

/* Before a statement: the statement_timeout the deadline leaves (a SET
 * only when it changes by more than a second, or a bound comes or goes). */
static void apply_deadline(struct pg_store *s) {
  int64_t want = 0;
  if (s->deadline && *s->deadline) {
    want = *s->deadline - shoal_mono_ms();
    if (want < 1)
      want = 1;
  }
  if (want == s->timeout_set ||
      (want && s->timeout_set && s->timeout_set - want < 1000 && s->timeout_set >= want))
    return;
  char sql[64];
  snprintf(sql, sizeof sql, "SET statement_timeout = %lld", (long long)want);
  PGresult *r = PQexec(s->conn, sql);
  if (PQresultStatus(r) == PGRES_COMMAND_OK)
    s->timeout_set = want;
  PQclear(r);
}

static int pg_is_full(hub_store *db, int rc) {
  (void)db;
  return rc == HUB_STORE_FULL;
}

static int pg_try_lock(hub_store *db, int64_t key) {
  struct pg_store *s = PGS(db);
  char sql[80];
  PGresult *r = NULL;
  if (s->lock_held) { /* still ours while the session lives */
    if (run(s, "SELECT 1", NULL) == HUB_STORE_OK && s->lock_held)
      return 1;
    s->lock_held = false;
    if (PQstatus(s->conn) != CONNECTION_OK)
      return -1;
  }
  snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)", (long long)key);
  if (run(s, sql, &r) != HUB_STORE_OK)
    return -1;
  s->lock_held = PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  return s->lock_held ? 1 : 0;
}

/* A URI with any password masked, for messages. */
static void safe_uri(const char *uri, char *out, size_t n) {
  const char *at = strchr(uri, '@'), *scheme = strstr(uri, "://");
  const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
  if (at && colon && colon < at)
    snprintf(out, n, "%.*s:***%s", (int)(colon - uri), uri, at);
  else
    snprintf(out, n, "%s", uri);
}

static shoal_err connect_to(const char *uri, struct pg_store **out, shoal_diag *diag) {
  char shown[512];
  safe_uri(uri, shown, sizeof shown);
  struct pg_store *s = calloc(1, sizeof *s);
  if (!s || !(s->uri = strdup(uri))) {
    free(s);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  s->base.vt = &hub_store__pg;
  s->conn = PQconnectdb(uri);
  if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
    set_err(s, s->conn ? PQerrorMessage(s->conn) : "out of memory");
    shoal_err rc =
        shoal_fail(diag, SHOAL_EDB, "cannot connect to PostgreSQL %s: %s", shown, s->err);
    hub_store__pg.close(&s->base);
    return rc;
  }
  if (!session_setup(s)) {
    shoal_err rc = shoal_fail(diag, SHOAL_EDB, "PostgreSQL %s: %s", shown, s->err);
    hub_store__pg.close(&s->base);
    return rc;
  }
  *out = s;
  return SHOAL_OK;
}

static shoal_err migrate(struct pg_store *s, shoal_diag *diag) {
  hub_store *db = &s->base;
  int64_t version = 0;
  char sql[96];
  shoal_err rc;
  if (hub_pg_migrations_count != hub_migrations_count)
    return shoal_fail(diag, SHOAL_EDB,
                      "this build has %zu SQLite migrations but %zu PostgreSQL ones "
                      "(hub/migrations_pg/ must match hub/migrations/)",
                      hub_migrations_count, hub_pg_migrations_count);
  if ((rc = pg_exec(db, "BEGIN", diag)) != SHOAL_OK)
    return rc;
  snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)MIGRATE_LOCK);
  if ((rc = pg_exec(db, sql, diag)) != SHOAL_OK ||
      (rc = pg_exec(db, "CREATE TABLE IF NOT EXISTS shoal_schema (version BIGINT NOT NULL)",
                    diag)) != SHOAL_OK ||
      (rc = hub_store_query_int(db, "SELECT MAX(version) FROM shoal_schema", -1, &version, diag)) !=
          SHOAL_OK)
    goto fail;
  if (version < 0) {
    if ((rc = pg_exec(db, "INSERT INTO shoal_schema (version) VALUES (0)", diag)) != SHOAL_OK)
      goto fail;
    version = 0;
  }
  if (version > (int64_t)hub_pg_migrations_count) {
    rc = shoal_fail(diag, SHOAL_EDB,
                    "database schema version %lld is newer than this build knows (%zu); "
                    "refusing to open it",
                    (long long)version, hub_pg_migrations_count);
    goto fail;
  }
  for (size_t i = (size_t)version; i < hub_pg_migrations_count; i++) {
    const struct shoal_migration *m = &hub_pg_migrations[i];
    snprintf(sql, sizeof sql, "UPDATE shoal_schema SET version = %d", m->number);
    if ((rc = pg_exec(db, m->sql, diag)) != SHOAL_OK || (rc = pg_exec(db, sql, diag)) != SHOAL_OK) {
      shoal_diag_prefix(diag, "migration %s", m->name);
      goto fail;
    }
  }
  return pg_exec(db, "COMMIT", diag);
fail:
  pg_rollback(db);
  return rc;
}

/* FNV-1a, 64 bits: a stable database name for a path. */
static uint64_t fnv1a64(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}

shoal_err hub_store__pg_test_uri(const char *path, const char *base, char *out, size_t n,
                                 shoal_diag *diag) {
  char uri[512], abs[4096], dir[4096];
  /* base is a URI without a database, or a file holding one. */
  if (base[0] == '/') {
    FILE *f = fopen(base, "r");
    if (!f || !fgets(uri, sizeof uri, f)) {
      if (f)
        fclose(f);
      return shoal_fail(diag, SHOAL_ECONFIG, "SHOAL_TEST_HUB_PG: cannot read %s", base);
    }
    fclose(f);
    uri[strcspn(uri, "\r\n")] = '\0';
  } else {
    snprintf(uri, sizeof uri, "%s", base);
  }
  /* The absolute path names the database; the file need not exist. */
  const char *slash = strrchr(path, '/');
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
  if (!realpath(dir[0] ? dir : "/", abs))
    return shoal_fail(diag, SHOAL_ECONFIG, "SHOAL_TEST_HUB_PG: no folder for %s", path);
  size_t len = strlen(abs);
  snprintf(abs + len, sizeof abs - len, "/%s", slash ? slash + 1 : path);
  char name[32], sql[96], admin[600];
  snprintf(name, sizeof name, "t_%016llx", (unsigned long long)fnv1a64(abs));
  snprintf(admin, sizeof admin, "%s/postgres", uri);
  PGconn *c = PQconnectdb(admin);
  if (PQstatus(c) != CONNECTION_OK) {
    shoal_err rc = shoal_fail(diag, SHOAL_EDB, "SHOAL_TEST_HUB_PG: cannot connect to %s: %s", admin,
                              PQerrorMessage(c));
    PQfinish(c);
    return rc;
  }
  snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\" TEMPLATE template0", name);
  PGresult *r = PQexec(c, sql);
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  shoal_err rc = SHOAL_OK;
  if (PQresultStatus(r) != PGRES_COMMAND_OK &&
      !(state && (strcmp(state, "42P04") == 0 || strcmp(state, "23505") == 0)))
    rc = shoal_fail(diag, SHOAL_EDB, "SHOAL_TEST_HUB_PG: %s", PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
  if (rc == SHOAL_OK)
    snprintf(out, n, "%s/%s", uri, name);
  return rc;
}

shoal_err hub_store__pg_open(const char *uri, hub_store **out, shoal_diag *diag) {
  struct pg_store *s = NULL;
  shoal_err rc = connect_to(uri, &s, diag);
  if (rc != SHOAL_OK)
    return rc;
  if ((rc = migrate(s, diag)) != SHOAL_OK) {
    char shown[512];
    safe_uri(uri, shown, sizeof shown);
    shoal_diag_prefix(diag, "%s", shown);
    hub_store__pg.close(&s->base);
    return rc;
  }
  *out = &s->base;
  return SHOAL_OK;
}

static shoal_err pg_open_again(hub_store *db, hub_store **out, shoal_diag *diag) {
  struct pg_store *s = NULL;
  shoal_err rc = connect_to(PGS(db)->uri, &s, diag);
  if (rc == SHOAL_OK)
    *out = &s->base;
  return rc;
}

static void pg_close(hub_store *db) {
  struct pg_store *s = PGS(db);
  if (s->conn)
    PQfinish(s->conn);
  free(s->uri);
  free(s);
}

const struct hub_store_vt hub_store__pg = {
    .name = "postgresql",
    .dialect = HUB_STORE_PG,
    .open_again = pg_open_again,
    .close = pg_close,
    .prepare = pg_prepare,
    .bind_int64 = pg_bind_int64,
    .bind_double = pg_bind_double,
    .bind_null = pg_bind_null,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_parameter_count = pg_bind_parameter_count,
    .step = pg_step,
    .reset = pg_reset,
    .clear_bindings = pg_clear_bindings,
    .finalize = pg_finalize,
    .column_count = pg_column_count,
    .column_type = pg_column_type,
    .column_int64 = pg_column_int64,
    .column_double = pg_column_double,
    .column_text = pg_column_text,
    .column_blob = pg_column_blob,
    .column_bytes = pg_column_bytes,
    .changes = pg_changes,
    .last_insert_id = pg_last_insert_id,
    .errmsg = pg_errmsg,
    .exec = pg_exec,
    .begin = pg_begin,
    .in_tx = pg_in_tx,
    .db_name = pg_name,
    .set_deadline = pg_set_deadline,
    .rollback = pg_rollback,
    .is_full = pg_is_full,
    .try_lock = pg_try_lock,
};
