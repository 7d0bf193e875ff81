/* hlc.c - hybrid logical clock. When the 16-bit counter would overflow in
 * one millisecond the physical part is advanced by one instead, so values
 * stay strictly increasing. */
#include "shoal/hlc.h"

static uint64_t advance(uint64_t base_ms, uint64_t base_counter_plus1) {
  if (base_counter_plus1 > 0xFFFFu)
    return SHOAL_HLC_MAKE(base_ms + 1, 0);
  return SHOAL_HLC_MAKE(base_ms, base_counter_plus1);
}

uint64_t shoal_hlc_tick(struct shoal_hlc *clk, int64_t now_ms) {
  uint64_t wall = now_ms < 0 ? 0 : (uint64_t)now_ms;
  uint64_t last_ms = (uint64_t)SHOAL_HLC_MS(clk->last);
  if (wall > last_ms)
    clk->last = SHOAL_HLC_MAKE(wall, 0);
  else
    clk->last = advance(last_ms, (uint64_t)SHOAL_HLC_COUNTER(clk->last) + 1);
  return clk->last;
}

uint64_t shoal_hlc_recv(struct shoal_hlc *clk, uint64_t remote, int64_t now_ms) {
  uint64_t wall = now_ms < 0 ? 0 : (uint64_t)now_ms;
  uint64_t l_ms = (uint64_t)SHOAL_HLC_MS(clk->last), r_ms = (uint64_t)SHOAL_HLC_MS(remote);
  uint64_t max_ms = wall > l_ms ? wall : l_ms;
  if (r_ms > max_ms)
    max_ms = r_ms;
  if (max_ms == wall && wall > l_ms && wall > r_ms) {
    clk->last = SHOAL_HLC_MAKE(wall, 0);
  } else if (max_ms == l_ms && l_ms == r_ms) {
    unsigned c = SHOAL_HLC_COUNTER(clk->last) > SHOAL_HLC_COUNTER(remote)
                     ? SHOAL_HLC_COUNTER(clk->last)
                     : SHOAL_HLC_COUNTER(remote);
    clk->last = advance(max_ms, (uint64_t)c + 1);
  } else if (max_ms == l_ms) {
    clk->last = advance(l_ms, (uint64_t)SHOAL_HLC_COUNTER(clk->last) + 1);
  } else {
    clk->last = advance(r_ms, (uint64_t)SHOAL_HLC_COUNTER(remote) + 1);
  }
  return clk->last;
}
