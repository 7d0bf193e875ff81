#!/usr/bin/env python3
"""test_date_forms - `shoal-hub settle` and `shoal-hub ticket statement`
accept the same date forms, through one parser (issue 16): a day
(YYYY-MM-DD), an ISO-8601 time with an offset or Z, and both refuse the same
bad input with exit 3 (a month 13, text) and an end before the start."""
import shoal_harness as h


def run():
    with h.Env("date_forms") as env:
        cfg = env.hub_config(signing_key=False)
        cmds = (["settle"], ["ticket", "statement"])
        for good in (("2026-01-01", "2026-02-01"),
                     ("2026-01-01T00:00:00+08:00", "2026-02-01T00:00:00Z"),
                     ("2026-01-01", "2026-02-01T00:00:00+08:00")):
            for c in cmds:
                r = h.hub_cmd(*c, "-c", cfg, "--from", good[0], "--to", good[1])
                h.check(r.rc == 0, "%s accepts %r: %r" % (" ".join(c), good, r))
        for bad in (("2026-13-01", "2026-02-01"), ("yesterday", "2026-02-01"),
                    ("2026-02-01", "2026-01-01")):
            for c in cmds:
                r = h.hub_cmd(*c, "-c", cfg, "--from", bad[0], "--to", bad[1])
                h.check(r.rc == 3, "%s refuses %r with exit 3: %r" % (" ".join(c), bad, r))
        print("ok   settle and ticket statement accept and refuse the same date forms")


if __name__ == "__main__":
    h.main(run)
