/* cli.c - option parsing, subcommand dispatch and error reporting for the
 * executables' cores. */
#include "shoal/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int find(const struct shoal_args *a, const char *name) {
  for (int i = 0; i < a->nspec; i++)
    if (strcmp(a->spec[i].name, name) == 0)
      return i;
  return -1;
}

static shoal_err store(struct shoal_args *a, int i, const char *val, shoal_diag *diag) {
  if (a->count[i] > 0 && !a->spec[i].repeatable)
    return shoal_fail(diag, SHOAL_EUSAGE, "option --%s given more than once", a->spec[i].name);
  if (a->count[i] >= SHOAL_ARGS_MAX_REPEAT)
    return shoal_fail(diag, SHOAL_EUSAGE, "option --%s given more than %d times", a->spec[i].name,
                      SHOAL_ARGS_MAX_REPEAT);
  a->vals[i][a->count[i]++] = val;
  return SHOAL_OK;
}

shoal_err shoal_args_parse(struct shoal_args *a, const struct shoal_argspec *spec, int nspec,
                           int argc, char **argv, int first, shoal_diag *diag) {
  memset(a, 0, sizeof *a);
  if (nspec > SHOAL_ARGS_MAX_OPTS)
    return shoal_fail(diag, SHOAL_EINTERNAL, "too many options in spec");
  a->spec = spec;
  a->nspec = nspec;
  bool only_positional = false;
  for (int k = first; k < argc; k++) {
    const char *arg = argv[k];
    if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
      if (a->npositional >= SHOAL_ARGS_MAX_POSITIONAL)
        return shoal_fail(diag, SHOAL_EUSAGE, "too many arguments");
      a->positional[a->npositional++] = arg;
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      only_positional = true;
      continue;
    }
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      a->help = true;
      continue;
    }
    int i = -1;
    const char *inline_val = NULL;
    if (arg[1] == '-') {
      char name[64];
      const char *eq = strchr(arg + 2, '=');
      size_t n = eq ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
      if (n >= sizeof name)
        return shoal_fail(diag, SHOAL_EUSAGE, "unknown option %s", arg);
      memcpy(name, arg + 2, n);
      name[n] = '\0';
      i = find(a, name);
      if (eq)
        inline_val = eq + 1;
    } else if (arg[2] == '\0') {
      for (int j = 0; j < nspec; j++)
        if (spec[j].short_name == arg[1])
          i = j;
    }
    if (i < 0)
      return shoal_fail(diag, SHOAL_EUSAGE, "unknown option %s", arg);
    if (!spec[i].takes_value) {
      if (inline_val)
        return shoal_fail(diag, SHOAL_EUSAGE, "option --%s takes no value", spec[i].name);
      shoal_err rc = store(a, i, "", diag);
      if (rc != SHOAL_OK)
        return rc;
      continue;
    }
    const char *val = inline_val;
    if (!val) {
      if (k + 1 >= argc)
        return shoal_fail(diag, SHOAL_EUSAGE, "option --%s needs a value (%s)", spec[i].name,
                          spec[i].metavar ? spec[i].metavar : "VALUE");
      val = argv[++k];
    }
    shoal_err rc = store(a, i, val, diag);
    if (rc != SHOAL_OK)
      return rc;
  }
  return SHOAL_OK;
}

const char *shoal_args_get(const struct shoal_args *a, const char *name) {
  int i = find(a, name);
  return i >= 0 && a->count[i] > 0 ? a->vals[i][a->count[i] - 1] : NULL;
}

int shoal_args_count(const struct shoal_args *a, const char *name) {
  int i = find(a, name);
  return i >= 0 ? a->count[i] : 0;
}

const char *shoal_args_at(const struct shoal_args *a, const char *name, int k) {
  int i = find(a, name);
  return i >= 0 && k >= 0 && k < a->count[i] ? a->vals[i][k] : NULL;
}

bool shoal_args_flag(const struct shoal_args *a, const char *name) {
  return shoal_args_count(a, name) > 0;
}

void shoal_args_usage(FILE *out, const char *usage_line, const char *description,
                      const struct shoal_argspec *spec, int nspec) {
  fprintf(out, "usage: %s\n", usage_line);
  if (description && *description)
    fprintf(out, "\n%s\n", description);
  fprintf(out, "\noptions:\n");
  for (int i = 0; i < nspec; i++) {
    char left[64];
    if (spec[i].short_name)
      snprintf(left, sizeof left, "-%c, --%s%s%s", spec[i].short_name, spec[i].name,
               spec[i].takes_value ? " " : "", spec[i].takes_value ? spec[i].metavar : "");
    else
      snprintf(left, sizeof left, "    --%s%s%s", spec[i].name, spec[i].takes_value ? " " : "",
               spec[i].takes_value ? spec[i].metavar : "");
    fprintf(out, "  %-28s %s%s\n", left, spec[i].help, spec[i].repeatable ? " (repeatable)" : "");
  }
  fprintf(out, "  %-28s %s\n", "-h, --help", "show this help and exit");
}

int shoal_cli_fail(const char *prog, shoal_err err, const shoal_diag *diag) {
  const char *what = diag && diag->msg[0] ? diag->msg : shoal_err_str(err);
  fprintf(stderr, "%s: error: %s\n", prog, what);
  return shoal_err_exit_code(err);
}

int shoal_cli_usage_error(const char *prog, const char *cmd, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: error: %s (see '%s%s%s --help')\n", prog, msg, prog, cmd ? " " : "",
          cmd ? cmd : "");
  return 2;
}

int shoal_cli_print_json(const char *prog, const cJSON *j) {
  char *text = j ? cJSON_PrintUnformatted(j) : NULL;
  if (!text) {
    shoal_diag d;
    return shoal_cli_fail(prog, shoal_fail(&d, SHOAL_ENOMEM, "out of memory"), &d);
  }
  printf("%s\n", text);
  free(text);
  return 0;
}

static void program_usage(const struct shoal_cli_program *p, FILE *out) {
  fprintf(out, "usage: %s <command> [options]\n       %s --version\n\n", p->prog, p->prog);
  fprintf(out, "%s\n\ncommands:\n", p->description);
  for (size_t i = 0; i < p->ncommands; i++)
    fprintf(out, "  %-*s %s\n", p->name_width, p->commands[i].name, p->commands[i].summary);
  fprintf(out,
          "\nRun '%s <command> --help' for a command's options.\n"
          "Exit codes: 0 ok, 1 runtime failure, 2 usage, 3 invalid input, 4 security.\n",
          p->prog);
}

int shoal_cli_dispatch(const struct shoal_cli_program *p, int argc, char **argv) {
  if (argc < 2) /* SPEC 2: an error is one stderr line */
    return shoal_cli_usage_error(p->prog, NULL, "missing command");
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    program_usage(p, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("%s %s\n", p->prog, SHOAL_VERSION);
    return 0;
  }
  for (size_t i = 0; i < p->ncommands; i++)
    if (strcmp(p->commands[i].name, cmd) == 0)
      return p->commands[i].fn(argc - 1, argv + 1);
  return shoal_cli_usage_error(p->prog, NULL, "unknown command \"%s\"", cmd);
}
