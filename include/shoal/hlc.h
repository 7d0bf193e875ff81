/* hlc.h - hybrid logical clock (SPEC 4.2): 64-bit value, wall milliseconds
 * in the high 48 bits and a counter in the low 16. Values a clock issues are
 * strictly increasing even when the wall clock stalls or steps back, and
 * merging a received value keeps causality across devices. */
#ifndef SHOAL_HLC_H
#define SHOAL_HLC_H

#include <stdint.h>

struct shoal_hlc {
  uint64_t last; /* last value issued or observed; persist it to survive restarts */
};

#define SHOAL_HLC_MS(v)       ((int64_t)((uint64_t)(v) >> 16))
#define SHOAL_HLC_COUNTER(v)  ((unsigned)((uint64_t)(v)&0xFFFFu))
#define SHOAL_HLC_MAKE(ms, c) (((uint64_t)(ms) << 16) | ((uint64_t)(c)&0xFFFFu))

/* Issues a new value for a local event at wall time now_ms. */
uint64_t shoal_hlc_tick(struct shoal_hlc *clk, int64_t now_ms);

/* Merges a value received from elsewhere (so later local events order after
 * it) and returns the new local value. */
uint64_t shoal_hlc_recv(struct shoal_hlc *clk, uint64_t remote, int64_t now_ms);

#endif
