#ifndef TESSERA_OIDC_POLICY_H
#define TESSERA_OIDC_POLICY_H

/* OIDC issuers' authorization policies (Pulumi's AuthPolicyDefinition): which ID tokens of an
 * issuer may be exchanged for which Tessera tokens. Pure functions of their arguments: no store,
 * no clock, no I/O. */

#include "core/principal.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define OIDC_POLICIES_MAX 64    /* policies in one issuer's document */
#define OIDC_RULES_MAX 32       /* claim rules in one policy */
#define OIDC_CLAIM_PATH_MAX 256 /* bytes of a rule's claim path */
#define OIDC_PATTERN_MAX 512    /* bytes of one pattern */

/* Tessera's own permission, beside Pulumi's "admin": a token issued under a policy that grants it
 * may change who has access (organization and team membership, roles, the token-lifetime policy).
 * Without it, an exchange-issued token cannot, whatever its role: a CI job's short-lived token
 * must not leave lasting admins behind. */
#define OIDC_PERMISSION_MANAGE_ACCESS "manage-access"

/* What a CI system asks for. team is the team's name for TOKEN_TEAM, user the login for
 * TOKEN_PERSONAL; both are ignored otherwise. admin is meaningful only for TOKEN_ORG. */
struct oidc_request {
  enum token_kind kind;
  const char *team;
  const char *user;
  bool admin;
};

enum oidc_decision { OIDC_DENY = 0, OIDC_ALLOW = 1 };

/* Validates a policies array (AuthPolicyUpdateRequest.policies). TE_OK, or TE_BAD_REQUEST with a
 * sentence in why naming the offending policy and field, e.g.
 * "policies[2].rules: \"sub\" must be a string or an array of strings.". An empty array is valid
 * (it denies everything); whether to accept one is the caller's business. */
int oidc_policy_validate(json_t *policies, char *why, size_t why_size);

/* Decides a request against the verified claims of an ID token: any matching deny policy denies,
 * else any matching allow policy allows, else the request is denied. A document that does not
 * validate denies everything. When explain is not NULL, *explain receives a new object (free with
 * json_decref) saying why:
 * {"decision", "reason", "policies": [{"index", "decision", "tokenType", "applies", "why" (when it
 * does not apply), "matched", "rules": [{"claim", "pattern", "value" (null when missing),
 * "matched"}]}]}. It quotes claims, so it is for administrators only. */
enum oidc_decision oidc_policy_decide(json_t *policies, json_t *claims,
                                      const struct oidc_request *request, json_t **explain);

/* Whether the request is allowed and one of the allow policies that match it grants permission
 * in its authorizedPermissions. */
bool oidc_policy_grants(json_t *policies, json_t *claims, const struct oidc_request *request,
                        const char *permission);

/* The claim at a path such as `"kubernetes.io".pod.name` (dot-separated members; a segment in
 * double quotes may contain dots), or NULL when it is missing or the path is malformed. Borrowed
 * reference. Paths select object members only, never array elements. */
json_t *oidc_claim_at(json_t *claims, const char *path);

/* Whole-string glob: '*' matches any run of characters, '?' exactly one UTF-8 code point,
 * everything else itself (case-sensitive). O(pattern * text) time, constant stack. */
bool oidc_pattern_match(const char *pattern, const char *text);

#endif
