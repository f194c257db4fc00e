/* tessera token create | list | delete: personal tokens, or an organization's (--org) or a team's
 * (--team ORG/TEAM). */

#include "cli/cli.h"

#include "cli/client.h"
#include "core/expiry.h"
#include "core/names.h"
#include "core/timeutil.h"

#include <curl/curl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char token_usage[] =
    "usage: tessera token create [--description D] [--expires "
    "30d|2w|12h|90m|2027-01-31|RFC3339|never]\n"
    "                            [--org ORG [--name N] [--admin] | --team ORG/TEAM --name N] "
    "[--json]\n"
    "       tessera token list [--org ORG | --team ORG/TEAM] [--filter active|expired|all] "
    "[--json]\n"
    "       tessera token delete [--org ORG | --team ORG/TEAM] ID... [--json]\n"
    "create prints only the new token's value (it is never shown again).\n";

struct token_args {
  const char *description, *expires, *org, *team, *name, *filter;
  bool admin, json;
  char team_org[128], team_name[128];
  char base[512]; /* API path of the token collection */
};

static int usage(const char *problem) {
  return cli_usage(token_usage, problem);
}

/* Options, then the collection path they select. Returns -1 to go on, else an exit status. */
static int parse(int argc, char **argv, struct token_args *a) {
  static const struct option options[] = {{"description", required_argument, NULL, 'd'},
                                          {"expires", required_argument, NULL, 'e'},
                                          {"org", required_argument, NULL, 'o'},
                                          {"team", required_argument, NULL, 't'},
                                          {"name", required_argument, NULL, 'n'},
                                          {"filter", required_argument, NULL, 'f'},
                                          {"admin", no_argument, NULL, 'a'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
  memset(a, 0, sizeof *a);
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
    switch (c) {
    case 'd':
      a->description = optarg;
      break;
    case 'e':
      a->expires = optarg;
      break;
    case 'o':
      a->org = optarg;
      break;
    case 't':
      a->team = optarg;
      break;
    case 'n':
      a->name = optarg;
      break;
    case 'f':
      a->filter = optarg;
      break;
    case 'a':
      a->admin = true;
      break;
    case 'j':
      a->json = true;
      break;
    case 'h':
      return usage(NULL);
    default:
      return usage("unknown or incomplete option");
    }
  }
  if (a->org && a->team)
    return usage("--org and --team do not go together");
  if (a->org && !name_is_valid(a->org))
    return usage("--org is not an organization name");
  if (a->team) {
    const char *slash = strchr(a->team, '/');
    if (!slash || (size_t)(slash - a->team) >= sizeof a->team_org ||
        strlen(slash + 1) >= sizeof a->team_name)
      return usage("--team takes ORG/TEAM");
    snprintf(a->team_org, sizeof a->team_org, "%.*s", (int)(slash - a->team), a->team);
    snprintf(a->team_name, sizeof a->team_name, "%s", slash + 1);
    if (!name_is_valid(a->team_org) || !name_is_valid(a->team_name))
      return usage("--team takes ORG/TEAM");
    snprintf(a->base, sizeof a->base, "/api/orgs/%s/teams/%s/tokens", a->team_org, a->team_name);
  } else if (a->org) {
    snprintf(a->base, sizeof a->base, "/api/orgs/%s/tokens", a->org);
  } else {
    snprintf(a->base, sizeof a->base, "/api/user/tokens");
  }
  return -1;
}

static int target(struct cli_target *t) {
  cli_target_resolve(t);
  return t->token[0] ? 0 : cli_fail("not logged in: run tessera login, or set TESSERA_TOKEN");
}

static int create(int argc, char **argv) {
  struct token_args a;
  int rc = parse(argc, argv, &a);
  if (rc >= 0)
    return rc;
  if (optind < argc)
    return usage("create takes no arguments");
  if (a.admin && !a.org)
    return usage("--admin is for organization tokens (--org)");
  if (a.name && !a.org && !a.team)
    return usage("--name is for organization and team tokens (--org or --team)");
  if (a.team && !a.name)
    return usage("a team token needs --name");
  int64_t expires = 0;
  if (a.expires && expiry_parse_human(a.expires, time_now(), &expires) != 0)
    return usage("--expires takes 30d, 2w, 12h, 90m, 2027-01-31, an RFC 3339 time, or never");
  char generated[48];
  if (a.org && !a.name) { /* names are never reused: a random one cannot collide in practice */
    unsigned char random[6];
    if (RAND_bytes(random, sizeof random) != 1)
      abort();
    snprintf(generated, sizeof generated, "cli-%02x%02x%02x%02x%02x%02x", random[0], random[1],
             random[2], random[3], random[4], random[5]);
    a.name = generated;
  }
  json_t *body = json_pack("{s:s, s:I}", "description", a.description ? a.description : "",
                           "expires", (json_int_t)expires);
  if (a.name)
    json_object_set_new(body, "name", json_string(a.name));
  if (a.org)
    json_object_set_new(body, "admin", json_boolean(a.admin));
  struct cli_target t;
  struct cli_reply r = {0};
  rc = target(&t);
  if (rc == 0 && cli_request(&t, "POST", a.base, body, &r) != 0)
    rc = cli_fail(r.message);
  else if (rc == 0 && a.json)
    cli_print_json(r.body);
  else if (rc == 0) {
    char value[512];
    printf("%s\n",
           cli_safe(json_string_value(json_object_get(r.body, "tokenValue")), value, sizeof value));
  }
  json_decref(r.body);
  json_decref(body);
  OPENSSL_cleanse(&t, sizeof t);
  return rc;
}

/* Every page of the listing, into one array. */
static int fetch_all(const struct cli_target *t, const struct token_args *a, json_t **out) {
  json_t *all = json_array();
  char path[2048], *cursor = NULL;
  for (int page = 0; page < 1000; page++) {
    char *escaped = cursor ? curl_easy_escape(NULL, cursor, 0) : NULL;
    snprintf(path, sizeof path, "%s?maxResults=1000%s%s%s%s", a->base, a->filter ? "&filter=" : "",
             a->filter ? a->filter : "", escaped ? "&continuationToken=" : "",
             escaped ? escaped : "");
    curl_free(escaped);
    free(cursor);
    cursor = NULL;
    struct cli_reply r;
    if (cli_request(t, "GET", path, NULL, &r) != 0) {
      json_decref(r.body);
      json_decref(all);
      return cli_fail(r.message);
    }
    json_array_extend(all, json_object_get(r.body, "tokens"));
    const char *next = json_string_value(json_object_get(r.body, "continuationToken"));
    if (next)
      cursor = strdup(next);
    json_decref(r.body);
    if (!cursor)
      break;
  }
  free(cursor);
  *out = all;
  return 0;
}

#define CELL_MAX 256         /* bytes of one table cell, escapes included */
#define DESCRIPTION_SHOWN 60 /* bytes of a description shown in the table */

/* How many columns text takes on a terminal: one per character (not per byte of UTF-8). */
static size_t display_width(const char *text) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)text; *p; p++)
    n += (*p & 0xc0) != 0x80;
  return n;
}

/* Everything the server sent is escaped (text_escape): a description, or a name from a hostile
 * server, must not be able to move the cursor, recolour the terminal or break the row. */
static void print_table(json_t *tokens) {
  static const char *const heads[] = {"ID",      "NAME",      "DESCRIPTION",
                                      "CREATED", "LAST USED", "EXPIRES"};
  enum { COLS = 6 };
  size_t n = json_array_size(tokens), width[COLS];
  char(*cells)[COLS][CELL_MAX] = calloc(n + 1, sizeof *cells);
  if (!cells)
    abort();
  int64_t now = time_now();
  for (int c = 0; c < COLS; c++)
    snprintf(cells[0][c], CELL_MAX, "%s", heads[c]);
  for (size_t i = 0; i < n; i++) {
    json_t *t = json_array_get(tokens, i);
    int64_t created = 0;
    time_parse_rfc3339(json_string_value(json_object_get(t, "created")) ?: "", &created);
    cli_safe(json_string_value(json_object_get(t, "id")), cells[i + 1][0], CELL_MAX);
    cli_safe(json_string_value(json_object_get(t, "name")), cells[i + 1][1], CELL_MAX);
    cli_safe(json_string_value(json_object_get(t, "description")), cells[i + 1][2],
             DESCRIPTION_SHOWN + 1);
    cli_relative(created, now, 0, cells[i + 1][3], CELL_MAX);
    cli_relative(json_integer_value(json_object_get(t, "lastUsed")), now, 0, cells[i + 1][4],
                 CELL_MAX);
    cli_relative(json_integer_value(json_object_get(t, "expires")), now, 1, cells[i + 1][5],
                 CELL_MAX);
  }
  for (int c = 0; c < COLS; c++) {
    width[c] = 0;
    for (size_t i = 0; i <= n; i++)
      if (display_width(cells[i][c]) > width[c])
        width[c] = display_width(cells[i][c]);
  }
  for (size_t i = 0; i <= n; i++) {
    for (int c = 0; c < COLS - 1; c++)
      printf("%s%*s  ", cells[i][c], (int)(width[c] - display_width(cells[i][c])), "");
    printf("%s\n", cells[i][COLS - 1]);
  }
  free(cells);
}

static int list(int argc, char **argv) {
  struct token_args a;
  int rc = parse(argc, argv, &a);
  if (rc >= 0)
    return rc;
  if (optind < argc)
    return usage("list takes no arguments");
  if (a.admin || a.name || a.expires || a.description)
    return usage("list takes --org, --team, --filter and --json only");
  if (a.filter && strcmp(a.filter, "active") && strcmp(a.filter, "expired") &&
      strcmp(a.filter, "all"))
    return usage("--filter takes active, expired or all");
  struct cli_target t;
  json_t *tokens = NULL;
  if ((rc = target(&t)) != 0 || (rc = fetch_all(&t, &a, &tokens)) != 0)
    return rc;
  if (a.json) {
    json_t *out = json_pack("{s:o}", "tokens", tokens);
    cli_print_json(out);
    json_decref(out);
  } else {
    print_table(tokens);
    json_decref(tokens);
  }
  return 0;
}

static int delete_tokens(int argc, char **argv) {
  struct token_args a;
  int rc = parse(argc, argv, &a);
  if (rc >= 0)
    return rc;
  if (optind >= argc)
    return usage("delete takes one or more token IDs");
  if (a.admin || a.name || a.expires || a.description || a.filter)
    return usage("delete takes --org, --team and --json only");
  struct cli_target t;
  if ((rc = target(&t)) != 0)
    return rc;
  json_t *deleted = json_array();
  for (int i = optind; i < argc; i++) {
    char path[1024];
    char *escaped = curl_easy_escape(NULL, argv[i], 0);
    snprintf(path, sizeof path, "%s/%s", a.base, escaped ? escaped : "");
    curl_free(escaped);
    struct cli_reply r;
    char id[512], message[2048];
    cli_safe(argv[i], id, sizeof id);
    if (cli_request(&t, "DELETE", path, NULL, &r) != 0) {
      fprintf(stderr, "tessera: %s: %s\n", id, cli_safe(r.message, message, sizeof message));
      rc = CLI_EXIT_ERROR;
    } else {
      json_array_append_new(deleted, json_string(argv[i]));
      if (!a.json)
        printf("Deleted %s\n", id);
    }
    json_decref(r.body);
  }
  if (a.json) {
    json_t *out = json_pack("{s:o}", "deleted", deleted);
    cli_print_json(out);
    json_decref(out);
  } else {
    json_decref(deleted);
  }
  return rc;
}

int cli_token(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
    return usage(argc < 2 ? "which token command? create, list or delete" : NULL);
  if (strcmp(argv[1], "create") == 0)
    return create(argc - 1, argv + 1);
  if (strcmp(argv[1], "list") == 0)
    return list(argc - 1, argv + 1);
  if (strcmp(argv[1], "delete") == 0)
    return delete_tokens(argc - 1, argv + 1);
  return usage("unknown token command");
}
