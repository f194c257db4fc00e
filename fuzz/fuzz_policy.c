/* libFuzzer target for the OIDC policy matcher (oidc/policy.c): oidc_policy_validate,
 * oidc_policy_decide with and without an explanation, oidc_claim_at and oidc_pattern_match. Built
 * and run by scripts/fuzz (see fuzz/README.md).
 *
 * Input: six parts separated by NUL bytes (missing parts are empty):
 *   policies JSON NUL claims JSON NUL request NUL user NUL pattern NUL text
 * - policies and claims are parsed with JSON_DECODE_ANY | JSON_ALLOW_NUL (so non-arrays and
 *   "\u0000" reach the matcher); what does not parse is passed as NULL.
 * - request: its first byte is flags (bits 0-1 token kind: organization, team, personal, and 3
 *   is organization too; bit 2 admin; bit 3 no team; bit 4 no user; bit 5 no request at all; bits
 *   6-7 pick the size of the buffer that oidc_policy_validate writes its reason into), the rest
 *   is the team name; the user part is the login.
 * - pattern and text go to oidc_pattern_match; pattern is also a claim path for oidc_claim_at.
 *
 * Properties checked (abort() on violation), beyond the absence of crashes:
 * - validation answers TE_OK with an empty reason, or TE_BAD_REQUEST with a non-empty reason that
 *   is NUL-terminated inside the caller's buffer and valid UTF-8 whatever the buffer's size;
 * - a document that does not validate, and an empty one, deny; with and without explain the
 *   decision is the same; the explanation is JSON that serializes, states the same decision, and
 *   its policy entries agree with it (an allow has a matched allow entry and no matched deny; a
 *   deny of a valid document has a matched deny or no matched allow); every rule row quotes the
 *   claim oidc_claim_at finds for its path;
 * - oidc_pattern_match agrees with a plain dynamic-programming glob matcher whenever pattern and
 *   text are valid UTF-8 (as policy patterns and JSON claims always are);
 * - oidc_claim_at finds every member of the claims, and every member of a member, under its
 *   quoted path, and under its plain path when the name has no '.' or '"'.
 */
#include "oidc/policy.h"

#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PARTS 6
#define REFERENCE_PATTERN_MAX 600 /* the oracle's table is (pattern + 1) x (text + 1) bytes */
#define REFERENCE_TEXT_MAX 2000

static void check(bool ok, const char *invariant) {
  if (!ok) {
    fprintf(stderr, "fuzz_policy: broken invariant: %s\n", invariant);
    abort();
  }
}

/* Strict UTF-8 (RFC 3629: no overlongs, surrogates or code points past U+10FFFF). */
static bool utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    unsigned c = *p;
    int extra = c < 0x80                 ? 0
                : c >= 0xc2 && c <= 0xdf ? 1
                : c >= 0xe0 && c <= 0xef ? 2
                : c >= 0xf0 && c <= 0xf4 ? 3
                                         : -1;
    if (extra < 0)
      return false;
    unsigned lo = 0x80, hi = 0xbf;
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
    else if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
    p++;
    for (int i = 0; i < extra; i++, p++) {
      if (*p < (i == 0 ? lo : 0x80) || *p > (i == 0 ? hi : 0xbf))
        return false;
    }
  }
  return true;
}

/* The oracle: match[i][j] says whether pattern from i matches text from j; '?' and '*' step over
 * whole code points (a lead byte and its continuation bytes), anything else matches itself. */
static bool reference_match(const char *pattern, const char *text) {
  size_t pl = strlen(pattern), tl = strlen(text);
  unsigned char *m = calloc((pl + 1) * (tl + 1), 1);
  check(m != NULL, "memory");
#define M(i, j) m[(i) * (tl + 1) + (j)]
  M(pl, tl) = 1;
  for (size_t i = pl + 1; i-- > 0;) {
    for (size_t j = tl + 1; j-- > 0;) {
      if (i == pl) {
        M(i, j) = j == tl;
        continue;
      }
      size_t next = j;
      if (j < tl)
        for (next = j + 1; next < tl && ((unsigned char)text[next] & 0xc0) == 0x80; next++)
          ;
      if (pattern[i] == '*')
        M(i, j) = M(i + 1, j) || (j < tl && M(i, next));
      else if (pattern[i] == '?')
        M(i, j) = j < tl && M(i + 1, next);
      else
        M(i, j) = j < tl && pattern[i] == text[j] && M(i + 1, j + 1);
    }
  }
  bool result = M(0, 0);
#undef M
  free(m);
  return result;
}

static void check_pattern(const char *pattern, const char *text) {
  bool got = oidc_pattern_match(pattern, text);
  if (strlen(pattern) <= REFERENCE_PATTERN_MAX && strlen(text) <= REFERENCE_TEXT_MAX &&
      utf8_valid(pattern) && utf8_valid(text))
    check(got == reference_match(pattern, text), "oidc_pattern_match agrees with the oracle");
}

/* Whether a member name can be written as a claim path segment: quoted always (but for '"'),
 * plain when it also has no '.'. */
static bool path_for(const char *key, size_t key_len, bool quoted, char *out, size_t size) {
  if (key_len == 0 || strlen(key) != key_len || strchr(key, '"') || (!quoted && strchr(key, '.')))
    return false;
  int n = snprintf(out, size, quoted ? "\"%s\"" : "%s", key);
  return n > 0 && (size_t)n < size;
}

static void check_claim_paths(json_t *claims) {
  const char *key, *inner_key;
  size_t key_len, inner_len;
  json_t *value, *inner;
  json_object_keylen_foreach(claims, key, key_len, value) {
    for (int quoted = 0; quoted < 2; quoted++) {
      char path[OIDC_CLAIM_PATH_MAX * 2 + 8];
      if (!path_for(key, key_len, quoted, path, sizeof path))
        continue;
      check(oidc_claim_at(claims, path) == value, "a member is found under its path");
      size_t len = strlen(path);
      json_object_keylen_foreach(value, inner_key, inner_len, inner) {
        path[len] = '.';
        if (path_for(inner_key, inner_len, quoted, path + len + 1, sizeof path - len - 1))
          check(oidc_claim_at(claims, path) == inner, "a member's member is found under its path");
      }
    }
  }
}

static bool is_string(json_t *j, const char *text) {
  return json_is_string(j) && strcmp(json_string_value(j), text) == 0;
}

/* The explanation's shape, and its agreement with the decision. */
static void check_explanation(json_t *explain, enum oidc_decision decision, bool valid,
                              json_t *claims) {
  check(json_is_object(explain), "explain is an object");
  char *text = json_dumps(explain, JSON_COMPACT);
  check(text != NULL, "explain serializes (valid UTF-8 throughout)");
  free(text);
  check(is_string(json_object_get(explain, "decision"), decision == OIDC_ALLOW ? "allow" : "deny"),
        "explain states the decision");
  check(json_is_string(json_object_get(explain, "reason")), "explain gives a reason");
  json_t *entries = json_object_get(explain, "policies");
  check(json_is_array(entries), "explain lists policies");
  bool matched_allow = false, matched_deny = false;
  size_t i, k;
  json_t *entry, *row;
  json_array_foreach(entries, i, entry) {
    bool matched = json_is_true(json_object_get(entry, "matched"));
    bool applies = json_is_true(json_object_get(entry, "applies"));
    check(!matched || applies, "a policy that does not apply does not match");
    check(applies || json_is_string(json_object_get(entry, "why")),
          "a policy that does not apply says why");
    bool allow = is_string(json_object_get(entry, "decision"), "allow");
    matched_allow = matched_allow || (matched && allow);
    matched_deny = matched_deny || (matched && !allow);
    bool all_rules = true;
    json_array_foreach(json_object_get(entry, "rules"), k, row) {
      const char *path = json_string_value(json_object_get(row, "claim"));
      check(path != NULL, "a rule row names its claim");
      json_t *found = oidc_claim_at(claims, path);
      json_t *quoted = json_object_get(row, "value");
      check(found ? json_equal(found, quoted) : json_is_null(quoted),
            "a rule row quotes the claim at its path");
      all_rules = all_rules && json_is_true(json_object_get(row, "matched"));
    }
    check(matched == (applies && all_rules),
          "a policy matches when it applies and all its rules do");
  }
  if (decision == OIDC_ALLOW)
    check(matched_allow && !matched_deny, "an allow has a matched allow and no matched deny");
  else if (valid)
    check(matched_deny || !matched_allow, "a deny has a matched deny or no matched allow");
}

static void check_decide(json_t *policies, json_t *claims, const struct oidc_request *request,
                         bool valid) {
  enum oidc_decision plain = oidc_policy_decide(policies, claims, request, NULL);
  check(plain == OIDC_ALLOW || plain == OIDC_DENY, "a decision is allow or deny");
  json_t *explain = NULL;
  enum oidc_decision explained = oidc_policy_decide(policies, claims, request, &explain);
  check(plain == explained, "explain does not change the decision");
  check(valid || plain == OIDC_DENY, "an invalid document denies");
  check(!(valid && json_array_size(policies) == 0) || plain == OIDC_DENY, "no policies deny");
  check(request || plain == OIDC_DENY, "no request is denied");
  check_explanation(explain, plain, valid && request, claims);
  json_decref(explain);
}

static bool check_validate(json_t *policies, size_t why_size) {
  char *why = malloc(why_size ? why_size : 1); /* exact size: ASan sees any overrun */
  check(why != NULL, "memory");
  if (why_size)
    memset(why, 'x', why_size);
  int rc = oidc_policy_validate(policies, why_size ? why : NULL, why_size);
  check(rc == TE_OK || rc == TE_BAD_REQUEST, "validation answers TE_OK or TE_BAD_REQUEST");
  if (why_size) {
    check(memchr(why, '\0', why_size) != NULL, "the reason ends inside the buffer");
    check(utf8_valid(why), "the reason is valid UTF-8");
    check(rc == TE_OK ? why[0] == '\0' : why[0] != '\0' || why_size == 1,
          "a refusal has a reason and an acceptance none");
  }
  free(why);
  return rc == TE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size + 1);
  check(copy != NULL, "memory");
  memcpy(copy, data, size);
  copy[size] = '\0';
  const char *part[PARTS];
  size_t part_len[PARTS];
  char *p = copy, *end = copy + size;
  for (int i = 0; i < PARTS; i++) {
    part[i] = p;
    char *nul = i < PARTS - 1 ? memchr(p, '\0', (size_t)(end - p)) : NULL;
    part_len[i] = nul ? (size_t)(nul - p) : strlen(p);
    p = nul ? nul + 1 : end;
  }
  int flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
  json_t *policies = json_loadb(part[0], part_len[0], flags, NULL);
  json_t *claims = json_loadb(part[1], part_len[1], flags, NULL);
  unsigned char bits = (unsigned char)part[2][0];
  const char *team = part_len[2] ? part[2] + 1 : "";
  static const enum token_kind kinds[] = {TOKEN_ORG, TOKEN_TEAM, TOKEN_PERSONAL, TOKEN_ORG};
  struct oidc_request request = {.kind = kinds[bits & 3],
                                 .admin = bits & 4,
                                 .team = bits & 8 ? NULL : team,
                                 .user = bits & 16 ? NULL : part[3]};
  static const size_t why_sizes[] = {256, 1, 17, 384};

  bool valid = check_validate(policies, why_sizes[bits >> 6]);
  check(check_validate(policies, 0) == valid, "the reason buffer does not change the verdict");
  check_decide(policies, claims, bits & 32 ? NULL : &request, valid);
  check_pattern(part[4], part[5]);
  (void)oidc_claim_at(claims, part[4]);
  check_claim_paths(claims);

  json_decref(policies);
  json_decref(claims);
  free(copy);
  return 0;
}
