#ifndef TESSERA_CLI_CLI_H
#define TESSERA_CLI_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The command-line client: tessera login | logout | whoami | token | scan ... (docs/CLI.md).
 * Returns the exit status: 0 ok, 1 error, 2 usage. */
int cli_main(int argc, char **argv);

/* Each command; argv[0] is the command's name. */
int cli_login(int argc, char **argv);
int cli_logout(int argc, char **argv);
int cli_whoami(int argc, char **argv);
int cli_token(int argc, char **argv);
int cli_scan(int argc, char **argv);

/* "in 10 days", "3 hours ago", "never" (t == 0), "expired" (past, when expiry). */
void cli_relative(int64_t t, int64_t now, int expiry, char *out, size_t size);

/* Prints j as indented JSON on stdout (for --json). */
void cli_print_json(json_t *j);

/* --help (problem NULL): text on stdout, exit status 0; else "tessera: problem" and text on
 * stderr, CLI_EXIT_USAGE. */
int cli_usage(const char *text, const char *problem);

/* Prints "tessera: message" on stderr, its control characters escaped (a server's message may
 * carry terminal escapes); returns CLI_EXIT_ERROR. */
int cli_fail(const char *message);

/* text (NULL prints as "") with control characters and invalid UTF-8 written as \xNN, in buf;
 * for anything from a server that is printed for people (--json output is JSON-escaped). */
const char *cli_safe(const char *text, char *buf, size_t size);

#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2

#endif
