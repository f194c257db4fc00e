#ifndef TESSERA_CLI_CLIENT_H
#define TESSERA_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CLI_URL_MAX 1024
#define CLI_TOKEN_MAX 256

/* Where the client talks to, and as whom. */
struct cli_target {
  char url[CLI_URL_MAX + 1];
  char token[CLI_TOKEN_MAX + 1];
};

/* The answer to one request. */
struct cli_reply {
  long status;       /* HTTP status; 0 when the server could not be reached */
  json_t *body;      /* parsed JSON body, or NULL */
  int64_t expires;   /* X-Tessera-Token-Expires, -1 when absent */
  long retry_after;  /* Retry-After in seconds, -1 when absent or not a number of seconds */
  char message[512]; /* for failures: the server's message, or why it could not be reached */
};

/* Sends method path (with body, a JSON object or array, when not NULL) to the target with its
 * token (none when t->token is empty), and prints any X-Pulumi-Warning on stderr. Returns 0 for a
 * 2xx answer, else 1 with message set. The caller json_decref's reply->body. */
int cli_request(const struct cli_target *t, const char *method, const char *path, json_t *body,
                struct cli_reply *reply);

/* Credentials saved by `tessera login`: $XDG_CONFIG_HOME/tessera/credentials.json (or
 * ~/.config/...), mode 0600 in a 0700 directory. */
int cli_credentials_path(char *out, size_t size);
bool cli_credentials_load(struct cli_target *out);
int cli_credentials_save(const struct cli_target *t);
int cli_credentials_remove(void);

/* The target from the environment (TESSERA_*, then PULUMI_*), then the saved credentials, then
 * the default URL. */
void cli_target_resolve(struct cli_target *out);

#endif
