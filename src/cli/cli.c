#include "cli/cli.h"

#include "core/names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: tessera login [URL] [--token T] [--json]   verify a token and save it\n"
    "       tessera logout [--json]                    forget the saved token\n"
    "       tessera whoami [-v] [--json]               who the token acts as\n"
    "       tessera token create|list|delete ...       manage tokens (tessera token --help)\n"
    "       tessera scan [PATH...] [--report URL]      find token values (tessera scan --help)\n"
    "URL and token also come from TESSERA_URL/TESSERA_TOKEN or PULUMI_BACKEND_URL/\n"
    "PULUMI_ACCESS_TOKEN. Exit status: 0 ok, 1 error, 2 usage.\n";

int cli_main(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*run)(int, char **);
  } commands[] = {{"login", cli_login},
                  {"logout", cli_logout},
                  {"whoami", cli_whoami},
                  {"token", cli_token},
                  {"scan", cli_scan}};
  for (size_t i = 0; argc >= 1 && i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[0], commands[i].name) == 0)
      return commands[i].run(argc, argv);
  fputs(usage_text, stderr);
  return CLI_EXIT_USAGE;
}

void cli_print_json(json_t *j) {
  char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
  if (text)
    printf("%s\n", text);
  free(text);
}

const char *cli_safe(const char *text, char *buf, size_t size) {
  return text_escape(text ? text : "", buf, size);
}

int cli_usage(const char *text, const char *problem) {
  if (problem)
    fprintf(stderr, "tessera: %s\n", problem);
  fputs(text, problem ? stderr : stdout);
  return problem ? CLI_EXIT_USAGE : 0;
}

int cli_fail(const char *message) {
  char safe[2048];
  fprintf(stderr, "tessera: %s\n", cli_safe(message, safe, sizeof safe));
  return CLI_EXIT_ERROR;
}

static void unit(int64_t n, const char *name, char *out, size_t size) {
  snprintf(out, size, "%lld %s%s", (long long)n, name, n == 1 ? "" : "s");
}

void cli_relative(int64_t t, int64_t now, int expiry, char *out, size_t size) {
  if (t == 0) {
    snprintf(out, size, "never");
    return;
  }
  if (expiry && t <= now) {
    snprintf(out, size, "expired");
    return;
  }
  int64_t d = t > now ? t - now : now - t;
  char amount[32];
  if (d >= 48 * 3600)
    unit((d + 43200) / 86400, "day", amount, sizeof amount);
  else if (d >= 3600)
    unit((d + 1800) / 3600, "hour", amount, sizeof amount);
  else if (d >= 60)
    unit((d + 30) / 60, "minute", amount, sizeof amount);
  else
    snprintf(amount, sizeof amount, "moments");
  snprintf(out, size, t > now ? "in %s" : "%s ago", amount);
}
