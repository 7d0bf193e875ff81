/* hub_http_guard.h - slow-client defence for the hub's HTTP server: a
 * table of open connections, each with a deadline by which its request
 * must have been received (headers and body), and a watchdog thread that
 * shuts down the socket of any connection past it. The time a handler runs
 * and the response is sent is never counted. Connections opened beyond the
 * general limit take one of a few reserved slots that may only serve the
 * probes (/healthz, /metrics) and get a short deadline. */
#ifndef HUB_HTTP_GUARD_H
#define HUB_HTTP_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "shoal/err.h"

struct hub_http_guard;
struct hub_http_conn;

/* Starts the watchdog for at most `general` + `reserve` connections:
 * recv_max_ms bounds receiving a request's headers (and the body's fixed
 * part), body_min_rate (bytes/s) adds time for a declared body, probe_ms
 * bounds a request on a reserved slot. *out owned by the caller
 * (hub_http_guard_free). */
shoal_err hub_http_guard_new(unsigned general, unsigned reserve, int64_t recv_max_ms,
                             int64_t body_min_rate, int64_t probe_ms, struct hub_http_guard **out,
                             shoal_diag *diag);
/* Stops the watchdog and frees; NULL is a no-op. Call after the server
 * stopped (no connection open). */
void hub_http_guard_free(struct hub_http_guard *g);

/* A connection opened on socket fd: returns its entry (NULL if the table
 * is full: the caller closes the connection). The entry is the guard's. */
struct hub_http_conn *hub_http_guard_opened(struct hub_http_guard *g, int fd);
/* The connection closed (before its socket is closed); NULL is a no-op. */
void hub_http_guard_closed(struct hub_http_guard *g, struct hub_http_conn *c);
/* True if the connection holds a reserved slot (probes only). */
bool hub_http_guard_probe_only(const struct hub_http_conn *c);
/* Headers received: the deadline becomes request start + recv_max_ms +
 * the time body_len bytes take at body_min_rate (body_len < 0: unknown,
 * use body_max). */
void hub_http_guard_headers(struct hub_http_guard *g, struct hub_http_conn *c, int64_t body_len,
                            int64_t body_max);
/* The request is fully received and being handled: no deadline. */
void hub_http_guard_handling(struct hub_http_guard *g, struct hub_http_conn *c);
/* The request completed; the connection may carry another (keep-alive),
 * which must arrive within the receive deadline again. */
void hub_http_guard_idle(struct hub_http_guard *g, struct hub_http_conn *c);
/* Connections shut down at their deadline so far. */
uint64_t hub_http_guard_cut(struct hub_http_guard *g);

#endif
