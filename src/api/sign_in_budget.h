#ifndef TESSERA_API_SIGN_IN_BUDGET_H
#define TESSERA_API_SIGN_IN_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

/* How many console sign-ins may fail, and what happens after. Two budgets, in memory:
 *   - per client (an IPv4 address, or an IPv6 /64, as http/forwarded.c finds it behind trusted
 *     proxies): CLIENT_FAILURES failures a minute, then the client waits out the minute;
 *   - per account (the login tried, known or not, so that this tells no one which logins exist):
 *     after ACCOUNT_FREE_FAILURES failures, each further one makes every sign-in to the account
 *     wait 1, 2, 4... seconds, at most ACCOUNT_MAX_DELAY_S, so an attacker with many addresses
 *     gets one guess per delay while the owner, who knows the password, waits at most that long.
 *     A success clears the account's count; so do ACCOUNT_FORGET_S without a failure.
 * The tables are api/budget_table.h's. */

#define CLIENT_FAILURES 10
#define CLIENT_WINDOW_S 60
#define ACCOUNT_FREE_FAILURES 10
#define ACCOUNT_MAX_DELAY_S 30
#define ACCOUNT_FORGET_S (15 * 60)

/* Milliseconds before the client may try again (0: now): the rest of the minute once it has used
 * up that minute's failures. */
int64_t sign_in_client_wait_ms(const char *client);

/* Milliseconds before the account may be tried again (0: now). */
int64_t sign_in_account_wait_ms(const char *login);

/* A failed attempt by client at login (NULL for a token sign-in, which names no account). */
void sign_in_failed(const char *client, const char *login);

/* A successful sign-in to the account: its failures are forgotten. */
void sign_in_succeeded(const char *login);

#endif
