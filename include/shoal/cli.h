/* cli.h - command-line helpers for the agent and hub cores: a small
 * long-option parser driven by a spec table (repeatable options, --help),
 * usage text, and the one way errors are reported: a single stderr line
 * "<prog>: error: <what>" and the SPEC section 2 exit code. */
#ifndef SHOAL_CLI_H
#define SHOAL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"

#define SHOAL_ARGS_MAX_OPTS       24
#define SHOAL_ARGS_MAX_REPEAT     64
#define SHOAL_ARGS_MAX_POSITIONAL 8

struct shoal_argspec {
  const char *name; /* long name without dashes: "config" */
  char short_name;  /* 'c' or 0 */
  bool takes_value;
  bool repeatable;
  const char *metavar; /* "FILE" */
  const char *help;
};

struct shoal_args {
  const struct shoal_argspec *spec;
  int nspec;
  int count[SHOAL_ARGS_MAX_OPTS];
  const char *vals[SHOAL_ARGS_MAX_OPTS][SHOAL_ARGS_MAX_REPEAT];
  const char *positional[SHOAL_ARGS_MAX_POSITIONAL];
  int npositional;
  bool help; /* --help or -h seen */
};

/* Parses argv[first..argc) against spec (nspec entries). Unknown options,
 * missing values and repeats of a non-repeatable option are SHOAL_EUSAGE. */
shoal_err shoal_args_parse(struct shoal_args *a, const struct shoal_argspec *spec, int nspec,
                           int argc, char **argv, int first, shoal_diag *diag);

/* Last value given for option name, or NULL. */
const char *shoal_args_get(const struct shoal_args *a, const char *name);
/* Number of times option name was given. */
int shoal_args_count(const struct shoal_args *a, const char *name);
/* The i-th value of a repeatable option (0-based), or NULL. */
const char *shoal_args_at(const struct shoal_args *a, const char *name, int i);
/* True if a flag (no value) was given. */
bool shoal_args_flag(const struct shoal_args *a, const char *name);

/* Prints "usage: <usage_line>\n\n<description>\n\noptions:\n ..." to out. */
void shoal_args_usage(FILE *out, const char *usage_line, const char *description,
                      const struct shoal_argspec *spec, int nspec);

/* Reports err on stderr as "<prog>: error: <diag or err text>" and returns
 * the exit code for it. */
int shoal_cli_fail(const char *prog, shoal_err err, const shoal_diag *diag);

/* Reports a usage problem (exit 2) with a hint to run --help. */
int shoal_cli_usage_error(const char *prog, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints j as one line of compact JSON on stdout and returns 0; if j is NULL
 * or cannot be rendered, reports "out of memory" like shoal_cli_fail and
 * returns its exit code. j stays the caller's. */
int shoal_cli_print_json(const char *prog, const cJSON *j);

/* One subcommand of an executable: fn gets argv shifted so argv[0] is name. */
struct shoal_cli_command {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *summary;
};

/* An executable's top level: description is the paragraph shown by --help
 * between the usage lines and the command list; name_width is the column
 * width of the command names in that list. */
struct shoal_cli_program {
  const char *prog;
  const char *description;
  int name_width;
  const struct shoal_cli_command *commands;
  size_t ncommands;
};

/* Runs argv[1] as a subcommand of p and returns the process exit code:
 * --help/-h/help prints usage (0), --version/version prints "<prog>
 * <version>" (0), no command prints usage on stderr (2), an unknown one is a
 * usage error (2). */
int shoal_cli_dispatch(const struct shoal_cli_program *p, int argc, char **argv);

#endif
