#include "admin/admin.h"

#include "core/error.h"
#include "core/expiry.h"
#include "core/names.h"
#include "core/password.h"
#include "core/timeutil.h"
#include "core/token.h"
#include "store/store.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage:\n"
    "  tessera admin bootstrap --db PATH|URL --user LOGIN --org ORG\n"
    "  tessera admin user add --db PATH LOGIN [--name NAME] [--email EMAIL] [--site-admin]\n"
    "  tessera admin user passwd --db PATH LOGIN   (reads the console password from stdin's first\n"
    "                                               line; an empty line removes it)\n"
    "  tessera admin org add --db PATH ORG\n"
    "  tessera admin member add --db PATH ORG LOGIN --role admin|member\n"
    "  tessera admin token create --db PATH --user LOGIN [--description D] [--expires WHEN]\n"
    "  tessera admin audit verify --db PATH   (exit 1 names the first tampered record)\n"
    "  tessera admin copy --from DB --to DB   (a whole store into an empty one: admin copy "
    "--help)\n"
    "WHEN is Unix seconds, an RFC 3339 date-time (2026-12-01T00:00:00Z), or 0 for never.\n"
    "--db is a SQLite file or a PostgreSQL URL (postgres://USER@HOST:PORT/DB); with PostgreSQL,\n"
    "every command also takes --audit-key FILE, the audit log's key (the servers' own file).\n"
    "They may also come from TESSERA_DB and TESSERA_AUDIT_KEY.\n";

static int usage(const char *problem) {
  if (problem)
    fprintf(stderr, "tessera admin: %s\n", problem);
  fputs(usage_text, stderr);
  return EXIT_USAGE;
}

struct admin_args {
  const char *db, *audit_key, *user, *org, *name, *email, *role, *description, *expires;
  bool site_admin;
  const char *positional[2];
  int positional_count;
};

/* Parses options for every subcommand alike; each command then checks what it needs. */
static int parse_args(int argc, char **argv, struct admin_args *a) {
  static const struct option options[] = {
      {"db", required_argument, NULL, 'd'},
      {"user", required_argument, NULL, 'u'},
      {"org", required_argument, NULL, 'o'},
      {"name", required_argument, NULL, 'n'},
      {"email", required_argument, NULL, 'e'},
      {"role", required_argument, NULL, 'r'},
      {"description", required_argument, NULL, 'D'},
      {"expires", required_argument, NULL, 'x'},
      {"site-admin", no_argument, NULL, 's'},
      {"audit-key", required_argument, NULL, 'K'},
      {NULL, 0, NULL, 0},
  };
  memset(a, 0, sizeof *a);
  a->db = getenv("TESSERA_DB");
  a->audit_key = getenv("TESSERA_AUDIT_KEY");
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
    switch (c) {
    case 'd':
      a->db = optarg;
      break;
    case 'u':
      a->user = optarg;
      break;
    case 'o':
      a->org = optarg;
      break;
    case 'n':
      a->name = optarg;
      break;
    case 'e':
      a->email = optarg;
      break;
    case 'r':
      a->role = optarg;
      break;
    case 'D':
      a->description = optarg;
      break;
    case 'x':
      a->expires = optarg;
      break;
    case 's':
      a->site_admin = true;
      break;
    case 'K':
      a->audit_key = optarg;
      break;
    default:
      return usage("unknown or incomplete option");
    }
  }
  for (int i = optind; i < argc; i++) {
    if (a->positional_count == 2)
      return usage("too many arguments");
    a->positional[a->positional_count++] = argv[i];
  }
  if (!a->db || !*a->db)
    return usage("--db PATH or --db URL is required");
  return 0;
}

static int fail(const char *what, int rc) {
  const char *why = rc == TE_CONFLICT    ? "it already exists"
                    : rc == TE_NOT_FOUND ? "not found"
                                         : "store error (see above)";
  fprintf(stderr, "tessera admin: %s: %s\n", what, why);
  return 1;
}

/* Names a database in messages: its path, but never a URL, which may carry a password. */
static const char *db_name(const char *db) {
  return store_is_postgres(db) ? "the PostgreSQL database" : db;
}

static int open_store(const struct admin_args *a, struct store **out) {
  int rc = store_open(a->db, a->audit_key, 1, out);
  if (rc)
    fprintf(stderr, "tessera admin: cannot open %s\n", db_name(a->db));
  return rc;
}

static int check_name(const char *what, const char *name) {
  if (name && name_is_valid(name))
    return 0;
  fprintf(stderr,
          "tessera admin: %s must be 1-%d letters, digits, '.', '_' or '-', starting with "
          "a letter or digit\n",
          what, LOGIN_MAX);
  return EXIT_USAGE;
}

static int add_user(struct store *store, const struct admin_args *a, const char *login,
                    bool site_admin, struct store_user *out) {
  struct store_user u = {.site_admin = site_admin};
  snprintf(u.login, sizeof u.login, "%s", login);
  snprintf(u.name, sizeof u.name, "%s", a->name ? a->name : login);
  snprintf(u.email, sizeof u.email, "%s", a->email ? a->email : "");
  int rc = store->ops->user_create(store, &u, out);
  return rc ? fail("creating the user", rc) : 0;
}

/* Creates a personal token and prints its value: the only time it is ever shown. */
static int issue_token(struct store *store, const struct store_user *user, const char *description,
                       int64_t expires) {
  struct store_token t = {.kind = TOKEN_PERSONAL,
                          .user_id = user->id,
                          .expires = expires,
                          .created = time_now(),
                          .source = TOKEN_SOURCE_ADMIN};
  char value[TOKEN_VALUE_LEN + 1];
  snprintf(t.description, sizeof t.description, "%s", description);
  token_new_id(t.id);
  token_generate(value);
  token_hash(value, TOKEN_VALUE_LEN, t.hash);
  int rc = store->ops->token_insert(store, &t, NULL, NULL, NULL);
  if (rc == TE_OK)
    printf("%s\n", value);
  OPENSSL_cleanse(value, sizeof value);
  return rc ? fail("creating the token", rc) : 0;
}

static int cmd_bootstrap(struct store *store, const struct admin_args *a) {
  struct store_user user;
  int rc = add_user(store, a, a->user, true, &user);
  if (rc)
    return rc;
  rc = store->ops->org_create(store, a->org);
  if (rc && rc != TE_CONFLICT)
    return fail("creating the organization", rc);
  if ((rc = store->ops->member_set(store, a->org, a->user, "admin")) != 0)
    return fail("adding the admin to the organization", rc);
  return issue_token(store, &user, "bootstrap", 0);
}

static int cmd_token_create(struct store *store, const struct admin_args *a) {
  int64_t expires = 0;
  const char *why = "";
  if (a->expires && (expiry_parse_text(a->expires, &expires) != TE_OK ||
                     expiry_check(expires, time_now(), &why) != TE_OK)) {
    fprintf(stderr, "tessera admin: --expires: %s\n", *why ? why : "not a time (see usage)");
    return 1;
  }
  struct store_user user;
  int rc = store->ops->user_by_login(store, a->user, &user);
  if (rc)
    return fail("finding the user", rc);
  return issue_token(store, &user, a->description ? a->description : "", expires);
}

/* Sets (or, with an empty line, removes) a user's console password, read from stdin so that it
 * never appears in a process listing or shell history. */
static int cmd_user_passwd(struct store *store, const char *login) {
  char line[PASSWORD_MAX + 2] = "", hash[PASSWORD_ENCODED_MAX + 1] = "";
  if (!fgets(line, sizeof line, stdin) && ferror(stdin)) {
    fprintf(stderr, "tessera admin: cannot read the password from stdin\n");
    return 1;
  }
  size_t len = strcspn(line, "\r\n");
  bool whole = line[len] != '\0' || feof(stdin);
  line[len] = '\0';
  int rc = TE_OK;
  if (!whole || (len && (len < PASSWORD_MIN || !text_is_printable(line)))) {
    fprintf(stderr, "tessera admin: the password must be %d to %d characters of text\n",
            PASSWORD_MIN, PASSWORD_MAX);
    rc = TE_BAD_REQUEST;
  } else if (len) {
    rc = password_hash(line, hash);
  }
  OPENSSL_cleanse(line, sizeof line);
  if (rc == TE_OK)
    rc = store->ops->user_set_password_hash(store, login, hash);
  if (rc == TE_NOT_FOUND)
    return fail("finding the user", rc);
  return rc ? 1 : 0;
}

static int cmd_audit_verify(const struct admin_args *a) {
  int64_t count = 0;
  char report[512];
  int rc = store_audit_verify(a->db, a->audit_key, &count, report, sizeof report);
  if (rc == TE_OK) {
    printf("audit log intact: %lld records verified\n", (long long)count);
    return 0;
  }
  if (rc == TE_CONFLICT)
    fprintf(stderr, "tessera admin: audit log TAMPERED: %s (%lld records before it verified)\n",
            report, (long long)count);
  else
    fprintf(stderr, "tessera admin: could not verify the audit log of %s\n", db_name(a->db));
  return 1;
}

/* Validates the arguments a command needs before the store is touched. */
static int validate(const char *cmd, const struct admin_args *a) {
  int rc = 0;
  if (strcmp(cmd, "bootstrap") == 0) {
    if (a->positional_count)
      return usage("bootstrap takes no positional arguments");
    rc = check_name("--user", a->user);
    if (!rc)
      rc = check_name("--org", a->org);
  } else if (strcmp(cmd, "user add") == 0) {
    if (a->positional_count != 1)
      return usage("user add takes one LOGIN");
    rc = check_name("LOGIN", a->positional[0]);
  } else if (strcmp(cmd, "user passwd") == 0) {
    if (a->positional_count != 1)
      return usage("user passwd takes one LOGIN");
    rc = check_name("LOGIN", a->positional[0]);
  } else if (strcmp(cmd, "org add") == 0) {
    if (a->positional_count != 1)
      return usage("org add takes one ORG");
    rc = check_name("ORG", a->positional[0]);
  } else if (strcmp(cmd, "member add") == 0) {
    if (a->positional_count != 2)
      return usage("member add takes ORG and LOGIN");
    if (!a->role || !role_is_valid(a->role))
      return usage("--role must be admin or member");
    rc = check_name("ORG", a->positional[0]);
    if (!rc)
      rc = check_name("LOGIN", a->positional[1]);
  } else if (strcmp(cmd, "token create") == 0) {
    if (a->positional_count)
      return usage("token create takes no positional arguments");
    rc = check_name("--user", a->user);
    if (!rc && a->description &&
        (strlen(a->description) > DESCRIPTION_MAX || !text_is_printable(a->description)))
      return usage("--description must be at most 1024 bytes of text without control characters");
  } else if (strcmp(cmd, "audit verify") == 0) {
    if (a->positional_count)
      return usage("audit verify takes no positional arguments");
  } else {
    return usage("unknown command");
  }
  if (!rc && a->name && !display_name_is_valid(a->name))
    return usage("--name is too long or has control characters");
  if (!rc && a->email && !email_is_valid(a->email))
    return usage("--email is not an email address");
  return rc;
}

static int run(const char *cmd, struct store *store, const struct admin_args *a) {
  int rc;
  if (strcmp(cmd, "bootstrap") == 0)
    return cmd_bootstrap(store, a);
  if (strcmp(cmd, "user add") == 0)
    return add_user(store, a, a->positional[0], a->site_admin, NULL);
  if (strcmp(cmd, "user passwd") == 0)
    return cmd_user_passwd(store, a->positional[0]);
  if (strcmp(cmd, "org add") == 0)
    return (rc = store->ops->org_create(store, a->positional[0])) ? fail("adding the org", rc) : 0;
  if (strcmp(cmd, "member add") == 0) {
    rc = store->ops->member_set(store, a->positional[0], a->positional[1], a->role);
    return rc ? fail("adding the member (does the org and the user exist?)", rc) : 0;
  }
  return cmd_token_create(store, a);
}

int admin_main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
    return usage(argc < 2 ? "which command?" : NULL);
  char cmd[32];
  int skip = 2;
  if (strcmp(argv[1], "copy") == 0)
    return admin_copy(argc - 1, argv + 1);
  if (strcmp(argv[1], "bootstrap") == 0) {
    snprintf(cmd, sizeof cmd, "bootstrap");
  } else if (argc >= 3) {
    snprintf(cmd, sizeof cmd, "%s %s", argv[1], argv[2]);
    skip = 3;
  } else {
    return usage("unknown command");
  }
  struct admin_args a;
  /* getopt sees argv[0] as the program name, so hand it the slice starting one before the options
   */
  int rc = parse_args(argc - skip + 1, argv + skip - 1, &a);
  if (rc || (rc = validate(cmd, &a)) != 0)
    return rc;
  if (strcmp(cmd, "audit verify") == 0)
    return cmd_audit_verify(&a); /* reads only: never opens the store for writing */
  struct store *store;
  if (open_store(&a, &store))
    return 1;
  rc = run(cmd, store, &a);
  store->ops->close(store);
  return rc;
}
