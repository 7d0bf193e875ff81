/* test_util.h - small helpers shared by the cmocka unit tests: a scratch
 * folder per test program and writing files into it. */
#ifndef SHOAL_TEST_UTIL_H
#define SHOAL_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Returns a fresh scratch folder path for this process (static storage). */
static inline const char *test_tmpdir(void) {
  static char dir[512];
  if (!dir[0]) {
    const char *base = getenv("SHOAL_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/t%ld", base && *base ? base : "/tmp", (long)getpid());
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0)
      abort();
  }
  return dir;
}

/* Writes text to <tmpdir>/name and returns the full path (static storage, rotating). */
static inline const char *test_write_file(const char *name, const char *text) {
  static char paths[8][1100];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 1100, "%s/%s", test_tmpdir(), name);
  FILE *f = fopen(p, "w");
  if (!f)
    abort();
  fputs(text, f);
  fclose(f);
  return p;
}

/* Path of a file in the source tree (static storage, rotating). */
static inline const char *test_source_path(const char *rel) {
  static char paths[4][1100];
  static int next;
  char *p = paths[next++ % 4];
  const char *src = getenv("SHOAL_SOURCE_DIR");
  snprintf(p, 1100, "%s/%s", src ? src : ".", rel);
  return p;
}

#endif
