#ifndef TESSERA_CORE_CLI_SESSION_H
#define TESSERA_CORE_CLI_SESSION_H

#include <stdbool.h>

/* The query of a browser login of Pulumi's CLI (`pulumi login` without a token opens
 * <console>/cli-login?cliSessionPort=P&cliSessionNonce=N&cliSessionDescription=D). The console
 * creates a token and sends the browser to http://localhost:P/?accessToken=…&nonce=N, where the CLI
 * listens: the target is always that loopback URL, so what is checked here is that P is a port
 * the CLI could have been given, N a nonce it could have made, and D a token description. */

#define CLI_SESSION_NONCE_MIN 16  /* the CLI sends 64 hex digits: 32 random bytes */
#define CLI_SESSION_NONCE_MAX 256 /* bytes */
#define CLI_SESSION_PORT_MIN 1024 /* below it are services, not a CLI's ephemeral listener */

/* True when the three values make a browser login; otherwise *why says what is wrong, in a
 * sentence for the person who followed the link. description may be NULL (absent). */
bool cli_session_valid(const char *port, const char *nonce, const char *description,
                       const char **why);

#endif
