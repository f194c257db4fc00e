#ifndef TESSERA_API_TOKENS_H
#define TESSERA_API_TOKENS_H

#include "http/request.h"

#include <stdbool.h>

/* What the three kinds of access tokens (personal, organization, team) share: reading a creation
 * request, rendering AccessToken, and listing pages. Each reader replies 400 itself and returns
 * false on bad input. */

/* "expires": absent or 0 mean never; an integer is Unix seconds; a string is RFC 3339. null,
 * floats, booleans, numeric strings and the like are refused. */
bool token_read_expires(struct request *req, json_t *value, int64_t *out);

/* "description": absent means ""; at most DESCRIPTION_MAX bytes of text without control
 * characters (null is refused). */
bool token_read_description(struct request *req, json_t *value, char out[DESCRIPTION_MAX + 1]);

/* ?reason= (for the audit record): at most REASON_MAX bytes of printable text; "" when absent. */
bool token_read_reason(struct request *req, const char **out);

/* AccessToken as Pulumi renders it, with last_used as the latest known use. */
json_t *token_json(const struct store_token *t, int64_t last_used);

/* Replies to a ListPersonalTokens / ListOrgTokens / ListTeamTokens request for the tokens of one
 * owner: filter (or show_expired), maxResults and continuationToken, whose tokens are bound to
 * `scope` so that one listing's token cannot page through another's. */
void token_list_reply(struct request *req, enum token_kind kind, int64_t owner_id,
                      const char *scope);

/* Personal tokens' routes belong to users: an organization or team token is refused (403). */
bool token_require_personal(struct request *req);

/* A {tokenId} path segment, validated and lower-cased in place; replies 404 itself otherwise. */
bool token_read_id(struct request *req, char *id);

#endif
