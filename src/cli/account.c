/* tessera login, logout and whoami. */

#include "cli/cli.h"

#include "cli/client.h"
#include "core/timeutil.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char login_usage[] =
    "usage: tessera login [URL] [--token T] [--json]\n"
    "Verifies the token (from --token, stdin, TESSERA_TOKEN or PULUMI_ACCESS_TOKEN) with GET\n"
    "/api/user and saves URL and token in ~/.config/tessera/credentials.json (mode 0600).\n";

int cli_login(int argc, char **argv) {
  static const struct option options[] = {{"token", required_argument, NULL, 't'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
  const char *token = NULL;
  bool json = false;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
    if (c == 't')
      token = optarg;
    else if (c == 'j')
      json = true;
    else if (c == 'h')
      return cli_usage(login_usage, NULL);
    else
      return cli_usage(login_usage, "unknown or incomplete option");
  }
  if (argc - optind > 1)
    return cli_usage(login_usage, "login takes at most one URL");
  struct cli_target t;
  cli_target_resolve(&t);
  if (optind < argc)
    snprintf(t.url, sizeof t.url, "%s", argv[optind]);
  char line[CLI_TOKEN_MAX + 2] = "";
  if (token) {
    snprintf(t.token, sizeof t.token, "%s", token);
  } else if (!isatty(STDIN_FILENO) && fgets(line, sizeof line, stdin) && line[0] != '\n') {
    line[strcspn(line, "\r\n")] = '\0';
    snprintf(t.token, sizeof t.token, "%.*s", CLI_TOKEN_MAX, line);
    OPENSSL_cleanse(line, sizeof line);
  }
  if (!t.token[0])
    return cli_usage(login_usage,
                     "no token: give --token, pipe one on stdin, or set TESSERA_TOKEN");
  struct cli_reply r;
  if (cli_request(&t, "GET", "/api/user", NULL, &r)) {
    json_decref(r.body);
    return cli_fail(r.message);
  }
  const char *login = json_string_value(json_object_get(r.body, "githubLogin"));
  int rc = cli_credentials_save(&t) ? cli_fail("cannot save the credentials") : 0;
  if (rc == 0 && json) {
    json_t *out = json_pack("{s:s, s:s}", "url", t.url, "user", login ? login : "");
    cli_print_json(out);
    json_decref(out);
  } else if (rc == 0) {
    char url[4 * CLI_URL_MAX + 1], who[512];
    printf("Logged in to %s as %s\n", cli_safe(t.url, url, sizeof url),
           cli_safe(login ? login : "?", who, sizeof who));
  }
  json_decref(r.body);
  OPENSSL_cleanse(&t, sizeof t);
  return rc;
}

static const char logout_usage[] = "usage: tessera logout [--json]\n"
                                   "Forgets the saved URL and token.\n";

/* Parses the options every simple command takes; returns -1 to go on, else an exit status. */
static int simple_options(int argc, char **argv, const char *text, bool *json, bool *verbose) {
  static const struct option options[] = {{"json", no_argument, NULL, 'j'},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, verbose ? "v" : "", options, NULL)) != -1) {
    if (c == 'j')
      *json = true;
    else if (c == 'v' && verbose)
      *verbose = true;
    else if (c == 'h')
      return cli_usage(text, NULL);
    else
      return cli_usage(text, "unknown or incomplete option");
  }
  return optind < argc ? cli_usage(text, "unexpected argument") : -1;
}

int cli_logout(int argc, char **argv) {
  bool json = false;
  int rc = simple_options(argc, argv, logout_usage, &json, NULL);
  if (rc >= 0)
    return rc;
  if (cli_credentials_remove())
    return cli_fail("cannot remove the saved credentials");
  if (json)
    printf("{}\n");
  return 0;
}

static const char whoami_usage[] =
    "usage: tessera whoami [-v|--verbose] [--json]\n"
    "Shows who the token acts as (-v: organizations, token, expiry).\n";

/* A string member of j, escaped for the terminal into buf. */
static const char *safe_member(json_t *j, const char *key, char *buf, size_t size) {
  return cli_safe(json_string_value(json_object_get(j, key)), buf, size);
}

static void print_verbose(json_t *user, int64_t expires) {
  char a[512], b[512], c[512];
  printf("User: %s\n", safe_member(user, "githubLogin", a, sizeof a));
  printf("Organizations:");
  json_t *orgs = json_object_get(user, "organizations"), *o;
  size_t i;
  json_array_foreach(orgs, i, o) {
    printf("%s %s (%s)", i ? "," : "", safe_member(o, "githubLogin", a, sizeof a),
           safe_member(o, "role", b, sizeof b));
  }
  printf("\n");
  json_t *info = json_object_get(user, "tokenInfo");
  const char *team = json_string_value(json_object_get(info, "team"));
  if (!info)
    printf("Token: personal\n");
  else if (team && team[0])
    printf("Token: team \"%s\" (%s/%s)\n", safe_member(info, "name", a, sizeof a),
           safe_member(info, "organization", b, sizeof b), cli_safe(team, c, sizeof c));
  else
    printf("Token: organization \"%s\" (%s)\n", safe_member(info, "name", a, sizeof a),
           safe_member(info, "organization", b, sizeof b));
  if (expires > 0) {
    char when[RFC3339_LEN + 1], rel[48];
    time_format_rfc3339(expires, when);
    cli_relative(expires, time_now(), 1, rel, sizeof rel);
    printf("Expires: %s (%s)\n", when, rel);
  } else if (expires == 0) {
    printf("Expires: never\n");
  }
}

int cli_whoami(int argc, char **argv) {
  bool json = false, verbose = false;
  int rc = simple_options(argc, argv, whoami_usage, &json, &verbose);
  if (rc >= 0)
    return rc;
  struct cli_target t;
  cli_target_resolve(&t);
  if (!t.token[0])
    return cli_fail("not logged in: run tessera login, or set TESSERA_TOKEN");
  struct cli_reply r;
  if (cli_request(&t, "GET", "/api/user", NULL, &r)) {
    json_decref(r.body);
    return cli_fail(r.message);
  }
  if (json)
    cli_print_json(r.body);
  else if (verbose)
    print_verbose(r.body, r.expires);
  else {
    char login[512];
    printf("%s\n", cli_safe(json_string_value(json_object_get(r.body, "githubLogin")), login,
                            sizeof login));
  }
  json_decref(r.body);
  return 0;
}
