#include "oidc/policy.h"

#include "core/error.h"
#include "core/names.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Patterns ---- */

/* Steps over one UTF-8 code point (a lead byte and its continuation bytes), never past the end. */
static const char *next_code_point(const char *s) {
  s++;
  while (((unsigned char)*s & 0xc0) == 0x80)
    s++;
  return s;
}

bool oidc_pattern_match(const char *pattern, const char *text) {
  const char *p = pattern, *t = text;
  const char *star_p = NULL, *star_t = NULL;
  while (*t) {
    if (*p == '*') {
      while (*p == '*')
        p++;
      if (!*p)
        return true; /* a trailing star takes whatever is left */
      star_p = p;
      star_t = t;
    } else if (*p == '?') {
      p++;
      t = next_code_point(t);
    } else if (*p && *p == *t) {
      p++;
      t++;
    } else if (star_p) {
      /* Only the latest star is ever widened: whatever an earlier star could absorb instead, the
       * latest one can too, so retrying earlier stars (which is what makes naive recursion
       * exponential) never finds a match this misses. */
      star_t = next_code_point(star_t);
      t = star_t;
      p = star_p;
    } else {
      return false;
    }
  }
  while (*p == '*')
    p++;
  return *p == '\0';
}

/* ---- Claim paths ---- */

/* Reads one segment of a claim path at *cursor and steps past it and its dot. NULL on success,
 * else what is wrong with the path. */
static const char *path_segment(const char **cursor, const char **key, size_t *len) {
  const char *s = *cursor;
  if (*s == '"') {
    const char *close = strchr(s + 1, '"');
    if (!close)
      return "has an unterminated quote";
    if (close == s + 1)
      return "has an empty segment";
    *key = s + 1;
    *len = (size_t)(close - s - 1);
    s = close + 1;
    if (*s != '.' && *s != '\0')
      return "has characters after a closing quote (a quoted segment must end at a dot)";
  } else {
    const char *end = s + strcspn(s, ".\"");
    if (end == s)
      return "has an empty segment";
    if (*end == '"')
      return "has a quote inside a segment (quote the whole segment)";
    *key = s;
    *len = (size_t)(end - s);
    s = end;
  }
  if (*s == '.' && !*++s)
    return "has an empty segment";
  *cursor = s;
  return NULL;
}

static const char *path_problem(const char *path) {
  if (!*path)
    return "is empty";
  const char *key;
  size_t len;
  for (const char *c = path; *c;) {
    const char *problem = path_segment(&c, &key, &len);
    if (problem)
      return problem;
  }
  return NULL;
}

json_t *oidc_claim_at(json_t *claims, const char *path) {
  if (!*path)
    return NULL;
  json_t *node = claims;
  for (const char *c = path; *c;) {
    const char *key;
    size_t len;
    if (path_segment(&c, &key, &len) || !json_is_object(node))
      return NULL;
    node = json_object_getn(node, key, len);
    if (!node)
      return NULL;
  }
  return node;
}

/* ---- Matching claims against rules ---- */

/* Reals as a JSON serializer writes them: the shortest text that reads back as the same double,
 * with ".0" when it would otherwise look like an integer. */
static void real_text(double d, char *buf, size_t size) {
  for (int precision = 15; precision <= 17; precision++) {
    snprintf(buf, size, "%.*g", precision, d);
    if (strtod(buf, NULL) == d)
      break;
  }
  if (!strpbrk(buf, ".eEn")) /* 'n': inf and nan, which jansson never holds anyway */
    strncat(buf, ".0", size - strlen(buf) - 1);
}

/* The text a scalar claim is matched as, or NULL when it cannot match. */
static const char *scalar_text(json_t *value, char *buf, size_t size) {
  switch (json_typeof(value)) {
  case JSON_STRING:
    /* An embedded NUL would let "repo:acme/x\u0000evil" pass for "repo:acme/x". */
    if (strlen(json_string_value(value)) != json_string_length(value))
      return NULL;
    return json_string_value(value);
  case JSON_INTEGER:
    snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
    return buf;
  case JSON_REAL:
    real_text(json_real_value(value), buf, size);
    return buf;
  case JSON_TRUE:
    return "true";
  case JSON_FALSE:
    return "false";
  default:
    return NULL;
  }
}

/* A rule's value is one pattern or an array of them; any may match. */
static bool text_matches(const char *text, json_t *patterns) {
  if (json_is_string(patterns))
    return oidc_pattern_match(json_string_value(patterns), text);
  size_t i;
  json_t *pattern;
  json_array_foreach(patterns, i, pattern) {
    if (json_is_string(pattern) && oidc_pattern_match(json_string_value(pattern), text))
      return true;
  }
  return false;
}

static bool scalar_matches(json_t *value, json_t *patterns) {
  char buf[40];
  const char *text = scalar_text(value, buf, sizeof buf);
  return text && text_matches(text, patterns);
}

static bool claim_matches(json_t *claim, json_t *patterns) {
  if (!json_is_array(claim))
    return claim && scalar_matches(claim, patterns);
  size_t i;
  json_t *element;
  json_array_foreach(claim, i, element) {
    if ((json_is_string(element) || json_is_number(element)) && scalar_matches(element, patterns))
      return true;
  }
  return false;
}

/* ---- Validation ---- */

/* Drops a code point that snprintf cut in two, so the sentence stays valid UTF-8 for JSON. */
static void trim_partial_code_point(char *s) {
  size_t len = strlen(s), lead = len;
  while (lead > 0 && len - lead < 4 && ((unsigned char)s[lead - 1] & 0xc0) == 0x80)
    lead--;
  if (lead == 0)
    return;
  unsigned char c = (unsigned char)s[lead - 1];
  size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
  if (len - (lead - 1) < need)
    s[lead - 1] = '\0';
}

/* Every refusal goes through here, so a caller's small buffer never ends mid-character. */
static int refuse(char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t size, const char *fmt, ...) {
  if (why && size > 0) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(why, size, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= size)
      trim_partial_code_point(why);
  }
  return TE_BAD_REQUEST;
}

/* A short quotation of a printable string for an error sentence, cut at a code point. */
static const char *excerpt(const char *s, char out[72]) {
  size_t len = strlen(s);
  if (len <= 64)
    return s;
  len = 60;
  while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
    len--;
  memcpy(out, s, len);
  memcpy(out + len, "...", 4);
  return out;
}

/* Valid UTF-8 without control characters, and no NUL hidden inside (jansson allows "\u0000"). */
static bool string_is_printable(json_t *s) {
  const char *text = json_string_value(s);
  return strlen(text) == json_string_length(s) && text_is_printable(text);
}

/* The whole string equals text (a plain strcmp would let "allow\u0000x" pass for "allow"). */
static bool string_is(json_t *s, const char *text) {
  return json_is_string(s) && json_string_length(s) == strlen(text) &&
         strcmp(json_string_value(s), text) == 0;
}

static const char *const policy_fields[] = {
    "decision", "tokenType", "teamName", "userLogin", "authorizedPermissions", "rules", NULL};

static int check_fields(json_t *policy, size_t i, char *why, size_t size) {
  const char *key;
  size_t key_len;
  json_t *value;
  json_object_keylen_foreach(policy, key, key_len, value) {
    bool known = false;
    for (const char *const *f = policy_fields; *f && !known; f++)
      known = strlen(*f) == key_len && strcmp(*f, key) == 0;
    if (known)
      continue;
    /* null is how some clients spell "not set"; anything else would be silently ignored. */
    if (strcmp(key, "roleID") == 0 && strlen(key) == key_len) {
      if (!json_is_null(value))
        return refuse(why, size, "policies[%zu].roleID: role filters are not supported; remove it.",
                      i);
      continue;
    }
    if (strcmp(key, "runnerID") == 0 && strlen(key) == key_len) {
      if (!json_is_null(value))
        return refuse(why, size,
                      "policies[%zu].runnerID: deployment runner filters are not supported; remove "
                      "it.",
                      i);
      continue;
    }
    char cut[72];
    if (strlen(key) != key_len || !text_is_printable(key))
      return refuse(why, size, "policies[%zu]: a field name is not printable text.", i);
    return refuse(why, size,
                  "policies[%zu]: unknown field \"%s\"; the fields are decision, tokenType, "
                  "teamName, userLogin, authorizedPermissions and rules.",
                  i, excerpt(key, cut));
  }
  return TE_OK;
}

static int check_decision(json_t *policy, size_t i, char *why, size_t size) {
  json_t *d = json_object_get(policy, "decision");
  if (!string_is(d, "allow") && !string_is(d, "deny"))
    return refuse(why, size, "policies[%zu].decision must be \"allow\" or \"deny\".", i);
  return TE_OK;
}

static int token_type_parse(json_t *name, enum token_kind *kind) {
  if (string_is(name, "organization"))
    *kind = TOKEN_ORG;
  else if (string_is(name, "team"))
    *kind = TOKEN_TEAM;
  else if (string_is(name, "personal"))
    *kind = TOKEN_PERSONAL;
  else
    return TE_BAD_REQUEST;
  return TE_OK;
}

/* teamName and userLogin: required for their own token type, forbidden for the others. */
static int check_name(json_t *policy, size_t i, const char *field, bool wanted, const char *type,
                      char *why, size_t size) {
  json_t *name = json_object_get(policy, field);
  if (json_is_null(name))
    name = NULL; /* how some clients spell "not set" */
  if (!wanted && name)
    return refuse(why, size, "policies[%zu].%s is allowed only when tokenType is \"%s\".", i, field,
                  type);
  if (wanted && !name)
    return refuse(why, size, "policies[%zu].%s is required when tokenType is \"%s\".", i, field,
                  type);
  if (name &&
      (!json_is_string(name) || strlen(json_string_value(name)) != json_string_length(name) ||
       !name_is_valid(json_string_value(name))))
    return refuse(why, size,
                  "policies[%zu].%s must be 1-64 letters, digits, '.', '_' or '-', starting with a "
                  "letter or digit.",
                  i, field);
  return TE_OK;
}

/* Whether the policy's authorizedPermissions lists the permission. */
static bool grants(json_t *policy, const char *permission) {
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(policy, "authorizedPermissions"), i, p) {
    if (string_is(p, permission))
      return true;
  }
  return false;
}

/* "admin" (organization tokens) as in Pulumi, and Tessera's own OIDC_PERMISSION_MANAGE_ACCESS
 * (admin organization tokens and personal tokens), each at most once. */
static int check_permissions(json_t *policy, size_t i, enum token_kind kind, char *why,
                             size_t size) {
  json_t *permissions = json_object_get(policy, "authorizedPermissions");
  size_t n = json_array_size(permissions);
  bool admin = grants(policy, "admin"), manage = grants(policy, OIDC_PERMISSION_MANAGE_ACCESS);
  if (!json_is_array(permissions) || n != (size_t)admin + (size_t)manage)
    return refuse(why, size,
                  "policies[%zu].authorizedPermissions must list at most \"admin\" and \"%s\", "
                  "each once.",
                  i, OIDC_PERMISSION_MANAGE_ACCESS);
  if (admin && kind != TOKEN_ORG)
    return refuse(why, size,
                  "policies[%zu].authorizedPermissions: \"admin\" applies only to organization "
                  "tokens.",
                  i);
  if (manage && (kind == TOKEN_TEAM || (kind == TOKEN_ORG && !admin)))
    return refuse(why, size,
                  "policies[%zu].authorizedPermissions: \"%s\" applies only to admin "
                  "organization tokens and personal tokens; team tokens change nothing of who has "
                  "access.",
                  i, OIDC_PERMISSION_MANAGE_ACCESS);
  return TE_OK;
}

static int check_pattern(json_t *pattern, size_t i, const char *path, char *why, size_t size) {
  char cut[72];
  if (!string_is_printable(pattern))
    return refuse(why, size,
                  "policies[%zu].rules: a pattern for \"%s\" contains control characters or is "
                  "not valid UTF-8.",
                  i, excerpt(path, cut));
  if (json_string_length(pattern) > OIDC_PATTERN_MAX)
    return refuse(why, size, "policies[%zu].rules: a pattern for \"%s\" is longer than %d bytes.",
                  i, excerpt(path, cut), OIDC_PATTERN_MAX);
  return TE_OK;
}

static int check_rule(const char *path, size_t path_len, json_t *value, size_t i, char *why,
                      size_t size) {
  char cut[72];
  if (strlen(path) != path_len || !text_is_printable(path))
    return refuse(why, size,
                  "policies[%zu].rules: a claim path contains control characters or is not valid "
                  "UTF-8.",
                  i);
  if (path_len > OIDC_CLAIM_PATH_MAX)
    return refuse(why, size, "policies[%zu].rules: claim path \"%s\" is longer than %d bytes.", i,
                  excerpt(path, cut), OIDC_CLAIM_PATH_MAX);
  const char *problem = path_problem(path);
  if (problem)
    return refuse(why, size, "policies[%zu].rules: claim path \"%s\" %s.", i, excerpt(path, cut),
                  problem);
  if (json_is_string(value))
    return check_pattern(value, i, path, why, size);
  if (json_is_array(value) && json_array_size(value) == 0)
    return refuse(why, size,
                  "policies[%zu].rules: \"%s\" has an empty array of patterns; give at least one.",
                  i, excerpt(path, cut));
  size_t k;
  json_t *pattern;
  json_array_foreach(value, k, pattern) {
    if (!json_is_string(pattern))
      break;
    int rc = check_pattern(pattern, i, path, why, size);
    if (rc != TE_OK)
      return rc;
  }
  if (!json_is_array(value) || k < json_array_size(value))
    return refuse(why, size, "policies[%zu].rules: \"%s\" must be a string or an array of strings.",
                  i, excerpt(path, cut));
  return TE_OK;
}

static int check_rules(json_t *policy, size_t i, bool allow, char *why, size_t size) {
  json_t *rules = json_object_get(policy, "rules");
  if (!json_is_object(rules))
    return refuse(why, size,
                  "policies[%zu].rules must be an object mapping claim paths to patterns.", i);
  if (json_object_size(rules) > OIDC_RULES_MAX)
    return refuse(why, size, "policies[%zu].rules: at most %d rules are allowed; it has %zu.", i,
                  OIDC_RULES_MAX, json_object_size(rules));
  if (allow && json_object_size(rules) == 0)
    return refuse(why, size,
                  "policies[%zu].rules: an allow policy needs at least one claim rule; without "
                  "one it would trust every token the issuer signs.",
                  i);
  const char *path;
  size_t path_len;
  json_t *value;
  json_object_keylen_foreach(rules, path, path_len, value) {
    int rc = check_rule(path, path_len, value, i, why, size);
    if (rc != TE_OK)
      return rc;
  }
  return TE_OK;
}

static int check_policy(json_t *policy, size_t i, char *why, size_t size) {
  if (!json_is_object(policy))
    return refuse(why, size, "policies[%zu] must be an object.", i);
  int rc = check_fields(policy, i, why, size);
  if (rc == TE_OK)
    rc = check_decision(policy, i, why, size);
  if (rc != TE_OK)
    return rc;
  enum token_kind kind;
  if (token_type_parse(json_object_get(policy, "tokenType"), &kind) != TE_OK)
    return refuse(why, size,
                  "policies[%zu].tokenType must be \"organization\", \"team\" or \"personal\".", i);
  bool allow = string_is(json_object_get(policy, "decision"), "allow");
  rc = check_name(policy, i, "teamName", kind == TOKEN_TEAM, "team", why, size);
  if (rc == TE_OK)
    rc = check_name(policy, i, "userLogin", kind == TOKEN_PERSONAL, "personal", why, size);
  if (rc == TE_OK)
    rc = check_permissions(policy, i, kind, why, size);
  if (rc == TE_OK)
    rc = check_rules(policy, i, allow, why, size);
  return rc;
}

int oidc_policy_validate(json_t *policies, char *why, size_t why_size) {
  if (!json_is_array(policies))
    return refuse(why, why_size, "policies must be an array of policy objects.");
  if (json_array_size(policies) > OIDC_POLICIES_MAX)
    return refuse(why, why_size, "policies: at most %d policies are allowed; there are %zu.",
                  OIDC_POLICIES_MAX, json_array_size(policies));
  size_t i;
  json_t *policy;
  json_array_foreach(policies, i, policy) {
    int rc = check_policy(policy, i, why, why_size);
    if (rc != TE_OK)
      return rc;
  }
  if (why && why_size > 0)
    why[0] = '\0';
  return TE_OK;
}

/* ---- Decisions ---- */

static json_t *must(json_t *j) {
  if (!j)
    abort();
  return j;
}

static void put(json_t *object, const char *key, json_t *value) {
  if (json_object_set_new(object, key, must(value)) != 0)
    abort();
}

static void append(json_t *array, json_t *value) {
  if (json_array_append_new(array, must(value)) != 0)
    abort();
}

static const char *kind_phrase(enum token_kind kind) {
  return kind == TOKEN_ORG    ? "organization tokens"
         : kind == TOKEN_TEAM ? "team tokens"
                              : "personal tokens";
}

/* A caller's name, or a stand-in when it could not be shown (or is not a name at all). */
static const char *shown(const char *name) {
  return name && name_is_valid(name) ? name : "(none)";
}

/* Whether a validated policy is about the requested token; if not, a sentence in why_not. */
static bool policy_applies(json_t *policy, const struct oidc_request *request, char *why_not,
                           size_t size) {
  enum token_kind kind = TOKEN_PERSONAL;
  token_type_parse(json_object_get(policy, "tokenType"), &kind);
  if (kind != request->kind) {
    snprintf(why_not, size, "It is for %s; the request is for %s.", kind_phrase(kind),
             kind_phrase(request->kind));
    return false;
  }
  if (kind == TOKEN_TEAM) {
    const char *team = json_string_value(json_object_get(policy, "teamName"));
    if (!request->team || strcasecmp(team, request->team) != 0) {
      snprintf(why_not, size, "It is for team %s; the request is for team %s.", team,
               shown(request->team));
      return false;
    }
  }
  if (kind == TOKEN_PERSONAL) {
    const char *user = json_string_value(json_object_get(policy, "userLogin"));
    if (!request->user || strcasecmp(user, request->user) != 0) {
      snprintf(why_not, size, "It is for the personal tokens of %s; the request is for %s's.", user,
               shown(request->user));
      return false;
    }
  }
  /* authorizedPermissions is what an allow grants; a deny refuses admin and non-admin alike. */
  bool allow = string_is(json_object_get(policy, "decision"), "allow");
  if (kind == TOKEN_ORG && request->admin && allow && !grants(policy, "admin")) {
    snprintf(why_not, size,
             "It does not grant admin (its authorizedPermissions lacks \"admin\"); the request is "
             "for an admin organization token.");
    return false;
  }
  return true;
}

/* Whether every rule of a validated policy matches; with report, every rule is tried and listed. */
static bool rules_match(json_t *rules, json_t *claims, json_t *report) {
  bool all = true;
  const char *path;
  json_t *patterns;
  json_object_foreach(rules, path, patterns) {
    json_t *claim = oidc_claim_at(claims, path);
    bool matched = claim && claim_matches(claim, patterns);
    all = all && matched;
    if (!report) {
      if (!matched)
        return false;
      continue;
    }
    json_t *row = must(json_object());
    put(row, "claim", json_string(path));
    put(row, "pattern", json_deep_copy(patterns));
    put(row, "value", claim ? json_deep_copy(claim) : json_null());
    put(row, "matched", json_boolean(matched));
    append(report, row);
  }
  return all;
}

/* Decides one validated policy; with report, appends its explanation there. */
static bool policy_matches(json_t *policy, size_t index, json_t *claims,
                           const struct oidc_request *request, json_t *report) {
  char why_not[256];
  bool applies = policy_applies(policy, request, why_not, sizeof why_not);
  json_t *rules = json_object_get(policy, "rules");
  if (!report)
    return applies && rules_match(rules, claims, NULL);
  /* Explanations try the rules even of policies that do not apply: an administrator checking a
   * sample token wants to see which rules it would satisfy. */
  json_t *rows = must(json_array());
  bool matched = rules_match(rules, claims, rows) && applies;
  json_t *entry = must(json_object());
  put(entry, "index", json_integer((json_int_t)index));
  put(entry, "decision", json_copy(json_object_get(policy, "decision")));
  put(entry, "tokenType", json_copy(json_object_get(policy, "tokenType")));
  put(entry, "applies", json_boolean(applies));
  if (!applies)
    put(entry, "why", json_string(why_not));
  put(entry, "matched", json_boolean(matched));
  put(entry, "rules", rows);
  append(report, entry);
  return matched;
}

static enum oidc_decision finish(enum oidc_decision decision, json_t **explain, json_t *report,
                                 const char *reason) {
  if (!explain)
    return decision;
  json_t *out = must(json_object());
  put(out, "decision", json_string(decision == OIDC_ALLOW ? "allow" : "deny"));
  put(out, "reason", json_string(reason));
  put(out, "policies", report ? report : json_array());
  *explain = out;
  return decision;
}

enum oidc_decision oidc_policy_decide(json_t *policies, json_t *claims,
                                      const struct oidc_request *request, json_t **explain) {
  char reason[512];
  if (explain)
    *explain = NULL;
  if (!request)
    return finish(OIDC_DENY, explain, NULL, "There is no request to decide, so it is denied.");
  /* Fail closed: a document that was stored before a rule was tightened, or never checked, must
   * not be trusted to mean what it seems to. */
  char problem[384];
  if (oidc_policy_validate(policies, problem, sizeof problem) != TE_OK) {
    snprintf(reason, sizeof reason, "The policy document is invalid, so every token is denied: %s",
             problem);
    trim_partial_code_point(reason);
    return finish(OIDC_DENY, explain, NULL, reason);
  }
  json_t *report = explain ? must(json_array()) : NULL;
  bool allowed = false, denied = false;
  size_t allow_at = 0, deny_at = 0, i;
  json_t *policy;
  json_array_foreach(policies, i, policy) {
    if (!policy_matches(policy, i, claims, request, report))
      continue;
    bool allow = string_is(json_object_get(policy, "decision"), "allow");
    if (allow && !allowed) {
      allowed = true;
      allow_at = i;
    } else if (!allow && !denied) {
      denied = true;
      deny_at = i;
      if (!report)
        break; /* nothing can outvote a deny */
    }
  }
  if (denied) {
    snprintf(reason, sizeof reason,
             "policies[%zu] denies it; a matching deny policy overrides every allow.", deny_at);
    return finish(OIDC_DENY, explain, report, reason);
  }
  if (allowed) {
    snprintf(reason, sizeof reason, "policies[%zu] allows it and no deny policy matches.",
             allow_at);
    return finish(OIDC_ALLOW, explain, report, reason);
  }
  snprintf(reason, sizeof reason, "%s",
           json_array_size(policies) == 0
               ? "There are no policies, so every token is denied."
               : "No policy both applies to this request and has every rule matched by the "
                 "token's claims, so it is denied.");
  return finish(OIDC_DENY, explain, report, reason);
}

bool oidc_policy_grants(json_t *policies, json_t *claims, const struct oidc_request *request,
                        const char *permission) {
  if (oidc_policy_decide(policies, claims, request, NULL) != OIDC_ALLOW)
    return false; /* validated there, too */
  size_t i;
  json_t *policy;
  json_array_foreach(policies, i, policy) {
    if (string_is(json_object_get(policy, "decision"), "allow") && grants(policy, permission) &&
        policy_matches(policy, i, claims, request, NULL))
      return true;
  }
  return false;
}
