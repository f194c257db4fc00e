/* OIDC authorization policies: patterns, claim paths, validation and decisions (oidc/policy.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/names.h"
#include "oidc/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON written with ' for " so the documents below stay readable; \\' gives an escaped quote.
 * NULs are let through so the module's own defences against them can be tested. */
static json_t *parse(const char *text) {
  char *copy = strdup(text);
  assert_non_null(copy);
  for (char *c = copy; *c; c++) {
    if (*c == '\'')
      *c = '"';
  }
  json_error_t error;
  json_t *j = json_loads(copy, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
  if (!j)
    fail_msg("bad test JSON (%s): %s", error.text, copy);
  free(copy);
  return j;
}

static void assert_valid(const char *doc) {
  json_t *policies = parse(doc);
  char why[512] = "untouched";
  int rc = oidc_policy_validate(policies, why, sizeof why);
  json_decref(policies);
  if (rc != TE_OK)
    fail_msg("refused %s: %s", doc, why);
}

static void assert_refused_json(json_t *policies, const char *needle) {
  char why[512] = "";
  int rc = oidc_policy_validate(policies, why, sizeof why);
  if (rc != TE_BAD_REQUEST)
    fail_msg("accepted a document that should fail with \"%s\"", needle);
  if (!strstr(why, needle))
    fail_msg("reason \"%s\" does not contain \"%s\"", why, needle);
  assert_true(text_is_printable(why));
}

static void assert_refused(const char *doc, const char *needle) {
  json_t *policies = parse(doc);
  assert_refused_json(policies, needle);
  json_decref(policies);
}

static enum oidc_decision decide(const char *doc, const char *claims_text,
                                 struct oidc_request request) {
  json_t *policies = parse(doc), *claims = parse(claims_text);
  enum oidc_decision d = oidc_policy_decide(policies, claims, &request, NULL);
  json_decref(policies);
  json_decref(claims);
  return d;
}

static const struct oidc_request org = {.kind = TOKEN_ORG};
static const struct oidc_request org_admin = {.kind = TOKEN_ORG, .admin = true};

/* One organization allow policy with the given rules, decided for a non-admin org token. */
static bool rule_allows(const char *rules, const char *claims) {
  char doc[1024];
  snprintf(doc, sizeof doc,
           "[{'decision':'allow','tokenType':'organization','authorizedPermissions':[],"
           "'rules':%s}]",
           rules);
  return decide(doc, claims, org) == OIDC_ALLOW;
}

/* ---- Patterns ---- */

static void patterns_are_literal_anchored_and_case_sensitive(void **state) {
  (void)state;
  assert_true(oidc_pattern_match("abc", "abc"));
  assert_false(oidc_pattern_match("abc", "abcd"));
  assert_false(oidc_pattern_match("abc", "xabc"));
  assert_false(oidc_pattern_match("abc", "ab"));
  assert_false(oidc_pattern_match("abc", "ABC"));
  assert_true(oidc_pattern_match("", ""));
  assert_false(oidc_pattern_match("", "a"));
  assert_false(oidc_pattern_match("a", ""));
  /* no other metacharacters: regex and bracket syntax and backslashes are literal */
  assert_false(oidc_pattern_match(".*", "abc"));
  assert_true(oidc_pattern_match(".*", ".abc"));
  assert_false(oidc_pattern_match("[abc]", "a"));
  assert_true(oidc_pattern_match("[abc]", "[abc]"));
  assert_true(oidc_pattern_match("a\\*", "a\\xyz"));
  assert_false(oidc_pattern_match("a\\*", "a*"));
  assert_false(oidc_pattern_match("a+", "aa"));
}

static void stars_match_any_run(void **state) {
  (void)state;
  assert_true(oidc_pattern_match("*", ""));
  assert_true(oidc_pattern_match("*", "anything at all"));
  assert_true(oidc_pattern_match("**", ""));
  assert_true(oidc_pattern_match("a*", "a"));
  assert_true(oidc_pattern_match("*b", "ab"));
  assert_false(oidc_pattern_match("*b", "ba"));
  assert_true(oidc_pattern_match("a*b*c", "aXbYc"));
  assert_true(oidc_pattern_match("a*b*c", "abc"));
  assert_false(oidc_pattern_match("a*b*c", "aXbY"));
  assert_true(oidc_pattern_match("a*b", "abab")); /* the star must retry past the first b */
  assert_true(oidc_pattern_match("*aab", "aaaab"));
  assert_true(
      oidc_pattern_match("repo:acme/*:ref:refs/heads/main", "repo:acme/infra:ref:refs/heads/main"));
  assert_false(oidc_pattern_match("repo:acme/*:ref:refs/heads/main",
                                  "repo:acme-evil/infra:ref:refs/heads/main"));
  assert_false(oidc_pattern_match("repo:acme/*:ref:refs/heads/main",
                                  "repo:acme/infra:ref:refs/heads/main-x"));
}

static void question_marks_take_one_code_point(void **state) {
  (void)state;
  assert_true(oidc_pattern_match("a?c", "abc"));
  assert_false(oidc_pattern_match("a?c", "ac"));
  assert_false(oidc_pattern_match("?", ""));
  assert_true(oidc_pattern_match("caf?", "caf\xc3\xa9"));   /* é: two bytes */
  assert_false(oidc_pattern_match("caf??", "caf\xc3\xa9")); /* ...but one character */
  assert_true(oidc_pattern_match("?", "\xe2\x82\xac"));     /* €: three bytes */
  assert_true(oidc_pattern_match("?", "\xf0\x9f\x98\x80")); /* 😀: four bytes */
  assert_false(oidc_pattern_match("??", "\xf0\x9f\x98\x80"));
  assert_false(oidc_pattern_match("?", "ab"));
  assert_true(oidc_pattern_match("a?c", "a\xf0\x9f\x98\x80"
                                        "c"));
  assert_true(oidc_pattern_match("*?", "\xf0\x9f\x98\x80"));
  assert_true(oidc_pattern_match("*\xc3\xa9", "caf\xc3\xa9"));
  assert_true(oidc_pattern_match("*?\xc3\xa9", "\xe2\x82\xac\xc3\xa9"));
  assert_false(oidc_pattern_match("*??\xc3\xa9", "\xe2\x82\xac\xc3\xa9"));
}

static void hostile_patterns_finish(void **state) {
  (void)state;
  /* Naive recursive globbing takes exponential time on these; the two-pointer match must not. */
  size_t stars = 200, text_len = 10000;
  char *pattern = malloc(2 * stars + 2), *text = malloc(text_len + 2);
  assert_non_null(pattern);
  assert_non_null(text);
  for (size_t i = 0; i < stars; i++)
    memcpy(pattern + 2 * i, "a*", 2);
  pattern[2 * stars] = '\0';
  memset(text, 'a', text_len);
  text[text_len] = 'b';
  text[text_len + 1] = '\0';
  assert_true(oidc_pattern_match(pattern, text)); /* the last star takes the b */
  pattern[2 * stars] = 'c';
  pattern[2 * stars + 1] = '\0';
  assert_false(oidc_pattern_match(pattern, text));
  for (size_t i = 0; i < stars; i++)
    memcpy(pattern + 2 * i, "*a", 2);
  pattern[2 * stars] = 'c';
  assert_false(oidc_pattern_match(pattern, text));
  memset(pattern, '?', 2 * stars + 1);
  assert_false(oidc_pattern_match(pattern, text));
  free(pattern);
  free(text);
}

/* ---- Claim paths and claim values ---- */

static void claim_paths_select_nested_and_quoted_members(void **state) {
  (void)state;
  json_t *claims = parse("{'sub':'repo:acme/infra','kubernetes.io':{'pod':{'name':'web-1'}},"
                         "'a.b':'dotted','nested':{'a':{'b':'deep'}},'aud':['x','y'],"
                         "'has \\'quote':'q'}");
  assert_string_equal(json_string_value(oidc_claim_at(claims, "sub")), "repo:acme/infra");
  assert_string_equal(json_string_value(oidc_claim_at(claims, "\"kubernetes.io\".pod.name")),
                      "web-1");
  assert_true(json_is_object(oidc_claim_at(claims, "\"kubernetes.io\".pod")));
  assert_null(oidc_claim_at(claims, "kubernetes.io.pod.name"));
  assert_string_equal(json_string_value(oidc_claim_at(claims, "\"a.b\"")), "dotted");
  assert_null(oidc_claim_at(claims, "a.b"));
  assert_string_equal(json_string_value(oidc_claim_at(claims, "nested.a.b")), "deep");
  assert_string_equal(json_string_value(oidc_claim_at(claims, "\"nested\".\"a\".b")), "deep");
  assert_null(oidc_claim_at(claims, "nested.a.b.c")); /* through a string */
  assert_null(oidc_claim_at(claims, "missing"));
  assert_null(oidc_claim_at(claims, "nested.missing"));
  assert_true(json_is_array(oidc_claim_at(claims, "aud")));
  assert_null(oidc_claim_at(claims, "aud.0")); /* paths never index arrays */
  /* malformed paths select nothing */
  static const char *const malformed[] = {
      "", ".sub", "sub.", "nested..a", "\"unterminated", "\"a.b\"x", "a\"b\"", "\"\"", "\"a.b\".",
  };
  for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
    if (oidc_claim_at(claims, malformed[i]))
      fail_msg("malformed path '%s' selected a claim", malformed[i]);
  }
  assert_null(oidc_claim_at(NULL, "sub"));
  json_t *array = parse("['sub']");
  assert_null(oidc_claim_at(array, "sub"));
  json_decref(array);
  json_decref(claims);
}

static void claim_values_match_as_text(void **state) {
  (void)state;
  const char *claims = "{'n':42,'neg':-7,'r':1.5,'whole':3.0,'t':true,'f':false,'z':null,"
                       "'o':{'k':'v'},'s':'text','aud':['urn:other','urn:pulumi:org:acme'],"
                       "'nums':[7,8],'odd':[{'k':'v'},null,['inner'],true],'empty':[]}";
  assert_true(rule_allows("{'n':'42'}", claims));
  assert_true(rule_allows("{'n':'4?'}", claims));
  assert_false(rule_allows("{'n':'42.0'}", claims));
  assert_true(rule_allows("{'neg':'-7'}", claims));
  assert_true(rule_allows("{'r':'1.5'}", claims));
  assert_true(rule_allows("{'whole':'3.0'}", claims));
  assert_false(rule_allows("{'whole':'3'}", claims));
  assert_true(rule_allows("{'t':'true'}", claims));
  assert_false(rule_allows("{'t':'True'}", claims));
  assert_true(rule_allows("{'f':'false'}", claims));
  assert_true(rule_allows("{'s':'text'}", claims));
  assert_true(rule_allows("{'s':['nope','te*']}", claims)); /* any pattern may match */
  assert_false(rule_allows("{'s':['nope','tex']}", claims));
  /* arrays: any string or number element */
  assert_true(rule_allows("{'aud':'urn:pulumi:org:acme'}", claims));
  assert_false(rule_allows("{'aud':'urn:pulumi:org:evil'}", claims));
  assert_true(rule_allows("{'nums':'8'}", claims));
  assert_false(rule_allows("{'nums':'9'}", claims));
  /* null, objects, arrays that hold neither strings nor numbers, missing claims: never */
  assert_false(rule_allows("{'z':'*'}", claims));
  assert_false(rule_allows("{'z':'null'}", claims));
  assert_false(rule_allows("{'o':'*'}", claims));
  assert_false(rule_allows("{'odd':'*'}", claims));
  assert_false(rule_allows("{'empty':'*'}", claims));
  assert_false(rule_allows("{'missing':'*'}", claims));
  assert_false(rule_allows("{'missing':''}", claims));
  /* a NUL inside a claim must not cut it short */
  assert_true(rule_allows("{'s':'repo:acme/x'}", "{'s':'repo:acme/x'}"));
  assert_false(rule_allows("{'s':'repo:acme/x'}", "{'s':'repo:acme/x\\u0000evil'}"));
  assert_false(rule_allows("{'s':'repo:acme/x*'}", "{'s':'repo:acme/x\\u0000evil'}"));
  /* nested and quoted paths reach into the claims */
  assert_true(rule_allows("{'\\'kubernetes.io\\'.pod.name':'web-*'}",
                          "{'kubernetes.io':{'pod':{'name':'web-1'}}}"));
  assert_false(rule_allows("{'\\'kubernetes.io\\'.pod.name':'web-*'}",
                           "{'kubernetes':{'io':{'pod':{'name':'web-1'}}}}"));
}

/* ---- Validation ---- */

#define ORG_ALLOW                                                                                  \
  "{'decision':'allow','tokenType':'organization','authorizedPermissions':[],'rules':{'sub':'x'}}"

static void valid_documents_pass(void **state) {
  (void)state;
  assert_valid("[]");
  assert_valid("[" ORG_ALLOW "]");
  assert_valid("[{'decision':'deny','tokenType':'organization','authorizedPermissions':[],"
               "'rules':{}}]"); /* a deny without rules denies every token of its kind */
  assert_valid("[{'decision':'allow','tokenType':'organization','authorizedPermissions':['admin'],"
               "'rules':{'sub':['a','b*'],'aud':'urn:pulumi:org:acme'}}]");
  assert_valid("[{'decision':'allow','tokenType':'team','teamName':'platform.ops_2-x',"
               "'authorizedPermissions':[],'rules':{'\\'kubernetes.io\\'.pod.name':'web-*'}}]");
  assert_valid("[{'decision':'deny','tokenType':'personal','userLogin':'alice',"
               "'authorizedPermissions':[],'rules':{'sub':''}}]");
  /* null is accepted as "not set" for the optional fields */
  assert_valid("[{'decision':'allow','tokenType':'organization','teamName':null,'userLogin':null,"
               "'roleID':null,'runnerID':null,'authorizedPermissions':[],'rules':{'sub':'x'}}]");
  char why[8] = "x";
  json_t *empty = json_array();
  assert_int_equal(oidc_policy_validate(empty, why, sizeof why), TE_OK);
  assert_string_equal(why, "");
  assert_int_equal(oidc_policy_validate(empty, NULL, 0), TE_OK);
  json_decref(empty);
}

static void document_shape_is_checked(void **state) {
  (void)state;
  assert_refused("{}", "policies must be an array");
  assert_refused("'allow'", "policies must be an array");
  assert_refused("[" ORG_ALLOW ",1]", "policies[1] must be an object");
  /* 64 policies pass, 65 do not */
  json_t *many = json_array();
  for (int i = 0; i < OIDC_POLICIES_MAX; i++)
    json_array_append_new(many, parse(ORG_ALLOW));
  char why[256];
  assert_int_equal(oidc_policy_validate(many, why, sizeof why), TE_OK);
  json_array_append_new(many, parse(ORG_ALLOW));
  assert_refused_json(many, "at most 64 policies");
  json_decref(many);
  assert_int_equal(oidc_policy_validate(NULL, NULL, 0), TE_BAD_REQUEST);
}

static void policy_fields_are_checked(void **state) {
  (void)state;
  assert_refused("[" ORG_ALLOW ",{'decision':'allow','tokenType':'organization','extra':1,"
                 "'authorizedPermissions':[],'rules':{'sub':'x'}}]",
                 "policies[1]: unknown field \"extra\"");
  assert_refused("[{'decision':'allow','tokenType':'organization','roleID':'r1',"
                 "'authorizedPermissions':[],'rules':{'sub':'x'}}]",
                 "policies[0].roleID: role filters are not supported");
  assert_refused("[{'decision':'allow','tokenType':'organization','runnerID':'',"
                 "'authorizedPermissions':[],'rules':{'sub':'x'}}]",
                 "policies[0].runnerID: deployment runner filters are not supported");
  assert_refused("[{'tokenType':'organization','authorizedPermissions':[],'rules':{'sub':'x'}}]",
                 "policies[0].decision must be \"allow\" or \"deny\"");
  assert_refused("[{'decision':'Allow','tokenType':'organization','authorizedPermissions':[],"
                 "'rules':{'sub':'x'}}]",
                 "policies[0].decision must be");
  assert_refused("[{'decision':'allow\\u0000','tokenType':'organization',"
                 "'authorizedPermissions':[],'rules':{'sub':'x'}}]",
                 "policies[0].decision must be");
  assert_refused("[{'decision':'allow','tokenType':'org','authorizedPermissions':[],"
                 "'rules':{'sub':'x'}}]",
                 "policies[0].tokenType must be \"organization\", \"team\" or \"personal\"");
  assert_refused("[{'decision':'allow','authorizedPermissions':[],'rules':{'sub':'x'}}]",
                 "policies[0].tokenType must be");
}

static void team_and_user_filters_are_checked(void **state) {
  (void)state;
  assert_refused("[{'decision':'allow','tokenType':'team','authorizedPermissions':[],"
                 "'rules':{'sub':'x'}}]",
                 "policies[0].teamName is required when tokenType is \"team\"");
  assert_refused("[{'decision':'allow','tokenType':'organization','teamName':'ops',"
                 "'authorizedPermissions':[],'rules':{'sub':'x'}}]",
                 "policies[0].teamName is allowed only when tokenType is \"team\"");
  assert_refused("[{'decision':'allow','tokenType':'personal','authorizedPermissions':[],"
                 "'rules':{'sub':'x'}}]",
                 "policies[0].userLogin is required when tokenType is \"personal\"");
  assert_refused("[{'decision':'allow','tokenType':'team','teamName':'ops','userLogin':'al',"
                 "'authorizedPermissions':[],'rules':{'sub':'x'}}]",
                 "policies[0].userLogin is allowed only when tokenType is \"personal\"");
  static const char *const bad_names[] = {"''",    "'-ops'",       "'.ops'", "'a b'",
                                          "'a/b'", "'caf\\u00e9'", "7",      "['ops']"};
  for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
    char doc[256];
    snprintf(doc, sizeof doc,
             "[{'decision':'allow','tokenType':'team','teamName':%s,'authorizedPermissions':[],"
             "'rules':{'sub':'x'}}]",
             bad_names[i]);
    assert_refused(doc, "policies[0].teamName must be 1-64 letters");
    snprintf(doc, sizeof doc,
             "[{'decision':'allow','tokenType':'personal','userLogin':%s,"
             "'authorizedPermissions':[],'rules':{'sub':'x'}}]",
             bad_names[i]);
    assert_refused(doc, "policies[0].userLogin must be 1-64 letters");
  }
  char name[80], doc[256];
  memset(name, 'a', 64);
  name[64] = '\0';
  snprintf(doc, sizeof doc,
           "[{'decision':'allow','tokenType':'team','teamName':'%s','authorizedPermissions':[],"
           "'rules':{'sub':'x'}}]",
           name);
  assert_valid(doc);
  snprintf(doc, sizeof doc,
           "[{'decision':'allow','tokenType':'team','teamName':'%sa','authorizedPermissions':[],"
           "'rules':{'sub':'x'}}]",
           name);
  assert_refused(doc, "policies[0].teamName must be 1-64");
}

static void permissions_are_checked(void **state) {
  (void)state;
  const char *listed = "policies[0].authorizedPermissions must list at most \"admin\" and "
                       "\"manage-access\", each once.";
  assert_refused("[{'decision':'allow','tokenType':'organization','rules':{'sub':'x'}}]", listed);
  assert_refused("[{'decision':'allow','tokenType':'organization','authorizedPermissions':'admin',"
                 "'rules':{'sub':'x'}}]",
                 listed);
  assert_refused("[{'decision':'allow','tokenType':'organization','authorizedPermissions':['read'],"
                 "'rules':{'sub':'x'}}]",
                 listed);
  assert_refused("[{'decision':'allow','tokenType':'organization',"
                 "'authorizedPermissions':['admin','admin'],'rules':{'sub':'x'}}]",
                 listed);
  assert_refused(
      "[{'decision':'allow','tokenType':'organization','authorizedPermissions':['Admin'],"
      "'rules':{'sub':'x'}}]",
      listed);
  assert_refused("[{'decision':'allow','tokenType':'organization',"
                 "'authorizedPermissions':['admin','manage-access','manage-access'],"
                 "'rules':{'sub':'x'}}]",
                 listed);
  /* manage-access: admin organization tokens and personal tokens only */
  assert_refused("[{'decision':'allow','tokenType':'organization',"
                 "'authorizedPermissions':['manage-access'],'rules':{'sub':'x'}}]",
                 "\"manage-access\" applies only to admin organization tokens and personal");
  assert_refused("[{'decision':'allow','tokenType':'team','teamName':'ops',"
                 "'authorizedPermissions':['manage-access'],'rules':{'sub':'x'}}]",
                 "\"manage-access\" applies only to admin organization tokens and personal");
  char why[256];
  json_t *ok = parse("[{'decision':'allow','tokenType':'organization','authorizedPermissions':"
                     "['manage-access','admin'],'rules':{'sub':'x'}},{'decision':'allow',"
                     "'tokenType':'personal','userLogin':'al','authorizedPermissions':"
                     "['manage-access'],'rules':{'sub':'x'}}]");
  assert_int_equal(oidc_policy_validate(ok, why, sizeof why), TE_OK);
  json_decref(ok);
  assert_refused("[{'decision':'allow','tokenType':'team','teamName':'ops',"
                 "'authorizedPermissions':['admin'],'rules':{'sub':'x'}}]",
                 "policies[0].authorizedPermissions: \"admin\" applies only to organization");
  assert_refused("[{'decision':'allow','tokenType':'personal','userLogin':'al',"
                 "'authorizedPermissions':['admin'],'rules':{'sub':'x'}}]",
                 "applies only to organization");
}

static void rules_are_checked(void **state) {
  (void)state;
  assert_refused("[{'decision':'allow','tokenType':'organization','authorizedPermissions':[]}]",
                 "policies[0].rules must be an object mapping claim paths to patterns");
  assert_refused("[{'decision':'allow','tokenType':'organization','authorizedPermissions':[],"
                 "'rules':[['sub','x']]}]",
                 "policies[0].rules must be an object");
  assert_refused("[" ORG_ALLOW ",{'decision':'allow','tokenType':'organization',"
                 "'authorizedPermissions':[],'rules':{}}]",
                 "policies[1].rules: an allow policy needs at least one claim rule; without one it "
                 "would trust every token");
  static const char *const not_patterns[] = {"7",         "true",    "null",
                                             "{'a':'b'}", "['a',1]", "['a',['b']]"};
  for (size_t i = 0; i < sizeof not_patterns / sizeof not_patterns[0]; i++) {
    char doc[256];
    snprintf(doc, sizeof doc,
             "[" ORG_ALLOW ",{'decision':'deny','tokenType':'organization',"
             "'authorizedPermissions':[],'rules':{'aud':'a','sub':%s}}]",
             not_patterns[i]);
    assert_refused(doc, "policies[1].rules: \"sub\" must be a string or an array of strings");
  }
  assert_refused("[{'decision':'allow','tokenType':'organization','authorizedPermissions':[],"
                 "'rules':{'sub':[]}}]",
                 "policies[0].rules: \"sub\" has an empty array of patterns");

  /* 32 rules pass, 33 do not */
  json_t *policies = parse("[" ORG_ALLOW "]");
  json_t *rules = json_object_get(json_array_get(policies, 0), "rules");
  for (int i = 1; i < OIDC_RULES_MAX; i++) {
    char path[16];
    snprintf(path, sizeof path, "c%d", i);
    json_object_set_new(rules, path, json_string("*"));
  }
  char why[256];
  assert_int_equal(oidc_policy_validate(policies, why, sizeof why), TE_OK);
  json_object_set_new(rules, "one-too-many", json_string("*"));
  assert_refused_json(policies, "policies[0].rules: at most 32 rules");
  json_decref(policies);
}

/* A one-policy document whose only rule is path: pattern (both taken as they are). */
static json_t *one_rule(const char *path, json_t *pattern) {
  json_t *policies = parse("[{'decision':'allow','tokenType':'organization',"
                           "'authorizedPermissions':[],'rules':{}}]");
  json_object_set_new(json_object_get(json_array_get(policies, 0), "rules"), path, pattern);
  return policies;
}

static void claim_paths_and_patterns_are_bounded_and_printable(void **state) {
  (void)state;
  char long_text[600];
  memset(long_text, 'p', sizeof long_text);
  long_text[OIDC_CLAIM_PATH_MAX] = '\0';
  json_t *p = one_rule(long_text, json_string("x"));
  char why[256];
  assert_int_equal(oidc_policy_validate(p, why, sizeof why), TE_OK);
  json_decref(p);
  long_text[OIDC_CLAIM_PATH_MAX] = 'p';
  long_text[OIDC_CLAIM_PATH_MAX + 1] = '\0';
  p = one_rule(long_text, json_string("x"));
  assert_refused_json(p, "is longer than 256 bytes");
  json_decref(p);

  memset(long_text, 'x', sizeof long_text);
  long_text[OIDC_PATTERN_MAX] = '\0';
  p = one_rule("sub", json_string(long_text));
  assert_int_equal(oidc_policy_validate(p, why, sizeof why), TE_OK);
  json_decref(p);
  long_text[OIDC_PATTERN_MAX] = 'x';
  long_text[OIDC_PATTERN_MAX + 1] = '\0';
  p = one_rule("sub", json_string(long_text));
  assert_refused_json(p, "policies[0].rules: a pattern for \"sub\" is longer than 512 bytes");
  json_decref(p);
  p = one_rule("sub", json_pack("[ss]", "ok", long_text));
  assert_refused_json(p, "is longer than 512 bytes");
  json_decref(p);

  p = one_rule("sub", json_string("a\nb"));
  assert_refused_json(p, "a pattern for \"sub\" contains control characters");
  json_decref(p);
  p = one_rule("sub", json_pack("[ss]", "ok", "tab\there"));
  assert_refused_json(p, "a pattern for \"sub\" contains control characters");
  json_decref(p);
  p = one_rule("sub", json_string_nocheck("caf\xe9")); /* Latin-1 */
  assert_refused_json(p, "not valid UTF-8");
  json_decref(p);
  p = one_rule("sub", json_stringn("a\0*", 3));
  assert_refused_json(p, "a pattern for \"sub\" contains control characters");
  json_decref(p);
  p = one_rule("s\x7f", json_string("x"));
  assert_refused_json(p, "policies[0].rules: a claim path contains control characters");
  json_decref(p);
}

static void malformed_claim_paths_are_refused(void **state) {
  (void)state;
  static const struct {
    const char *path, *reason;
  } cases[] = {
      {"", "is empty"},
      {".sub", "has an empty segment"},
      {"sub.", "has an empty segment"},
      {"a..b", "has an empty segment"},
      {"\"\".a", "has an empty segment"},
      {"\"kubernetes.io.pod", "has an unterminated quote"},
      {"a.\"b", "has an unterminated quote"},
      {"\"kubernetes.io\"pod", "has characters after a closing quote"},
      {"\"a\"\"b\"", "has characters after a closing quote"},
      {"a\"b\"", "has a quote inside a segment"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *p = one_rule(cases[i].path, json_string("*"));
    char needle[128];
    snprintf(needle, sizeof needle, "policies[0].rules: claim path \"%s\" %s", cases[i].path,
             cases[i].reason);
    assert_refused_json(p, needle);
    json_decref(p);
  }
  static const char *const good[] = {"sub",   "\"kubernetes.io\".pod.name", "a.\"b.c\"",
                                     "\"x\"", "with space.and-dash",        "a.b.c.d.e"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    json_t *p = one_rule(good[i], json_string("*"));
    char why[256];
    if (oidc_policy_validate(p, why, sizeof why) != TE_OK)
      fail_msg("refused path %s: %s", good[i], why);
    json_decref(p);
  }
}

static void reasons_stay_valid_utf8_when_cut(void **state) {
  (void)state;
  /* an unknown field of multi-byte characters, quoted into reasons of every short size */
  json_t *policies = parse("[{'decision':'allow','tokenType':'organization',"
                           "'authorizedPermissions':[],'rules':{'sub':'x'},"
                           "'\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u20ac\\u20ac':1}]");
  char full[256];
  assert_int_equal(oidc_policy_validate(policies, full, sizeof full), TE_BAD_REQUEST);
  assert_non_null(strstr(full, "unknown field \"\xc3\xa9"));
  for (size_t size = 1; size < strlen(full) + 1; size++) {
    char why[256];
    memset(why, 'Z', sizeof why);
    assert_int_equal(oidc_policy_validate(policies, why, size), TE_BAD_REQUEST);
    assert_true(strlen(why) < size);
    assert_memory_equal(why, full, strlen(why));
    if (!text_is_utf8(why))
      fail_msg("reason cut at %zu bytes is not UTF-8", size);
  }
  json_decref(policies);
}

/* ---- Decisions ---- */

#define CLAIMS_MAIN                                                                                \
  "{'sub':'repo:acme/infra:ref:refs/heads/main','repository_owner':'acme',"                        \
  "'aud':'urn:pulumi:org:acme'}"

static void matching_allow_allows_and_no_match_denies(void **state) {
  (void)state;
  const char *doc = "[{'decision':'allow','tokenType':'organization','authorizedPermissions':[],"
                    "'rules':{'sub':'repo:acme/*','aud':'urn:pulumi:org:acme'}}]";
  assert_int_equal(decide(doc, CLAIMS_MAIN, org), OIDC_ALLOW);
  assert_int_equal(decide(doc, "{'sub':'repo:evil/infra','aud':'urn:pulumi:org:acme'}", org),
                   OIDC_DENY);
  /* every rule must match */
  assert_int_equal(decide(doc, "{'sub':'repo:acme/infra','aud':'urn:pulumi:org:evil'}", org),
                   OIDC_DENY);
  assert_int_equal(decide(doc, "{'sub':'repo:acme/infra'}", org), OIDC_DENY);
  assert_int_equal(decide("[]", CLAIMS_MAIN, org), OIDC_DENY);
  /* the claims must be an object */
  assert_int_equal(decide(doc, "['repo:acme/x']", org), OIDC_DENY);
  json_t *policies = parse(doc);
  assert_int_equal(oidc_policy_decide(policies, NULL, &org, NULL), OIDC_DENY);
  json_t *claims = parse(CLAIMS_MAIN);
  assert_int_equal(oidc_policy_decide(policies, claims, NULL, NULL), OIDC_DENY);
  assert_int_equal(oidc_policy_decide(policies, claims, &org, NULL), OIDC_ALLOW);
  json_decref(claims);
  json_decref(policies);
}

static void deny_wins_over_allow(void **state) {
  (void)state;
  const char *allow = "{'decision':'allow','tokenType':'organization','authorizedPermissions':[],"
                      "'rules':{'sub':'repo:acme/*'}}";
  const char *deny = "{'decision':'deny','tokenType':'organization','authorizedPermissions':[],"
                     "'rules':{'sub':'*:ref:refs/heads/experimental'}}";
  char before[512], after[512];
  snprintf(before, sizeof before, "[%s,%s]", deny, allow);
  snprintf(after, sizeof after, "[%s,%s]", allow, deny);
  const char *experimental = "{'sub':'repo:acme/infra:ref:refs/heads/experimental'}";
  assert_int_equal(decide(before, experimental, org), OIDC_DENY);
  assert_int_equal(decide(after, experimental, org), OIDC_DENY);
  assert_int_equal(decide(before, CLAIMS_MAIN, org), OIDC_ALLOW);
  assert_int_equal(decide(after, CLAIMS_MAIN, org), OIDC_ALLOW);
  /* a deny without rules shuts its kind of token off entirely, admin or not */
  const char *off = "[{'decision':'allow','tokenType':'organization','authorizedPermissions':"
                    "['admin'],'rules':{'sub':'*'}},{'decision':'deny','tokenType':"
                    "'organization','authorizedPermissions':[],'rules':{}}]";
  assert_int_equal(decide(off, CLAIMS_MAIN, org), OIDC_DENY);
  assert_int_equal(decide(off, CLAIMS_MAIN, org_admin), OIDC_DENY);
  /* ...but only its kind */
  const char *team_doc = "[{'decision':'allow','tokenType':'team','teamName':'ops',"
                         "'authorizedPermissions':[],'rules':{'sub':'*'}},{'decision':'deny',"
                         "'tokenType':'organization','authorizedPermissions':[],'rules':{}}]";
  assert_int_equal(decide(team_doc, CLAIMS_MAIN, (struct oidc_request){TOKEN_TEAM, "ops", NULL, 0}),
                   OIDC_ALLOW);
}

static void team_and_user_filters_select_policies(void **state) {
  (void)state;
  const char *doc = "[{'decision':'allow','tokenType':'team','teamName':'Ops',"
                    "'authorizedPermissions':[],'rules':{'sub':'repo:acme/*'}},"
                    "{'decision':'allow','tokenType':'personal','userLogin':'alice',"
                    "'authorizedPermissions':[],'rules':{'sub':'repo:acme/*'}}]";
  struct oidc_request team = {.kind = TOKEN_TEAM, .team = "ops"};
  assert_int_equal(decide(doc, CLAIMS_MAIN, team), OIDC_ALLOW); /* names ignore case */
  team.team = "OPS";
  assert_int_equal(decide(doc, CLAIMS_MAIN, team), OIDC_ALLOW);
  team.team = "dev";
  assert_int_equal(decide(doc, CLAIMS_MAIN, team), OIDC_DENY);
  team.team = "ops2";
  assert_int_equal(decide(doc, CLAIMS_MAIN, team), OIDC_DENY);
  team.team = NULL;
  assert_int_equal(decide(doc, CLAIMS_MAIN, team), OIDC_DENY);
  struct oidc_request user = {.kind = TOKEN_PERSONAL, .user = "ALICE"};
  assert_int_equal(decide(doc, CLAIMS_MAIN, user), OIDC_ALLOW);
  user.user = "bob";
  assert_int_equal(decide(doc, CLAIMS_MAIN, user), OIDC_DENY);
  user.user = NULL;
  assert_int_equal(decide(doc, CLAIMS_MAIN, user), OIDC_DENY);
  /* token types never cross: neither policy grants an organization token, nor team for a user */
  assert_int_equal(decide(doc, CLAIMS_MAIN, org), OIDC_DENY);
  assert_int_equal(decide(doc, CLAIMS_MAIN, (struct oidc_request){TOKEN_TEAM, "alice", NULL, 0}),
                   OIDC_DENY);
  assert_int_equal(decide(doc, CLAIMS_MAIN, (struct oidc_request){TOKEN_PERSONAL, NULL, "ops", 0}),
                   OIDC_DENY);
  /* a team deny only concerns its team */
  const char *deny_ops = "[{'decision':'allow','tokenType':'team','teamName':'ops',"
                         "'authorizedPermissions':[],'rules':{'sub':'*'}},"
                         "{'decision':'allow','tokenType':'team','teamName':'dev',"
                         "'authorizedPermissions':[],'rules':{'sub':'*'}},"
                         "{'decision':'deny','tokenType':'team','teamName':'ops',"
                         "'authorizedPermissions':[],'rules':{}}]";
  assert_int_equal(decide(deny_ops, CLAIMS_MAIN, (struct oidc_request){TOKEN_TEAM, "ops", NULL, 0}),
                   OIDC_DENY);
  assert_int_equal(decide(deny_ops, CLAIMS_MAIN, (struct oidc_request){TOKEN_TEAM, "dev", NULL, 0}),
                   OIDC_ALLOW);
}

static void admin_needs_authorized_permissions(void **state) {
  (void)state;
  const char *plain = "[{'decision':'allow','tokenType':'organization','authorizedPermissions':[],"
                      "'rules':{'sub':'repo:acme/*'}}]";
  const char *admin = "[{'decision':'allow','tokenType':'organization','authorizedPermissions':"
                      "['admin'],'rules':{'sub':'repo:acme/*'}}]";
  assert_int_equal(decide(plain, CLAIMS_MAIN, org), OIDC_ALLOW);
  assert_int_equal(decide(plain, CLAIMS_MAIN, org_admin), OIDC_DENY);
  assert_int_equal(decide(admin, CLAIMS_MAIN, org_admin), OIDC_ALLOW);
  assert_int_equal(decide(admin, CLAIMS_MAIN, org), OIDC_ALLOW); /* admin covers non-admin */
  assert_int_equal(decide(admin, "{'sub':'repo:evil/x'}", org_admin), OIDC_DENY);
  /* an admin grant for one repository next to a plain grant for the rest */
  const char *split = "[{'decision':'allow','tokenType':'organization','authorizedPermissions':[],"
                      "'rules':{'sub':'repo:acme/*'}},{'decision':'allow','tokenType':"
                      "'organization','authorizedPermissions':['admin'],'rules':{'sub':"
                      "'repo:acme/infra:ref:refs/heads/main'}}]";
  assert_int_equal(decide(split, CLAIMS_MAIN, org_admin), OIDC_ALLOW);
  assert_int_equal(decide(split, "{'sub':'repo:acme/app:ref:refs/heads/main'}", org_admin),
                   OIDC_DENY);
  assert_int_equal(decide(split, "{'sub':'repo:acme/app:ref:refs/heads/main'}", org), OIDC_ALLOW);
}

static bool grants(const char *doc, const char *claims_text, struct oidc_request request) {
  json_t *policies = parse(doc), *claims = parse(claims_text);
  bool granted = oidc_policy_grants(policies, claims, &request, OIDC_PERMISSION_MANAGE_ACCESS);
  json_decref(policies);
  json_decref(claims);
  return granted;
}

static void manage_access_is_granted_only_by_a_matching_allow(void **state) {
  (void)state;
  const char *both = "[{'decision':'allow','tokenType':'organization','authorizedPermissions':"
                     "['admin'],'rules':{'sub':'repo:acme/*'}},{'decision':'allow','tokenType':"
                     "'organization','authorizedPermissions':['admin','manage-access'],'rules':"
                     "{'sub':'repo:acme/infra:*'}}]";
  assert_true(grants(both, "{'sub':'repo:acme/infra:ref:refs/heads/main'}", org_admin));
  assert_false(grants(both, "{'sub':'repo:acme/app:ref:refs/heads/main'}", org_admin));
  assert_int_equal(decide(both, "{'sub':'repo:acme/app:ref:refs/heads/main'}", org_admin),
                   OIDC_ALLOW); /* allowed, but without the grant */
  /* a matching deny takes the grant away with the token */
  const char *denied = "[{'decision':'allow','tokenType':'organization','authorizedPermissions':"
                       "['admin','manage-access'],'rules':{'sub':'repo:acme/*'}},{'decision':"
                       "'deny','tokenType':'organization','authorizedPermissions':[],'rules':"
                       "{'sub':'repo:acme/infra:*'}}]";
  assert_false(grants(denied, "{'sub':'repo:acme/infra:ref:refs/heads/main'}", org_admin));
  assert_true(grants(denied, "{'sub':'repo:acme/app:ref:refs/heads/main'}", org_admin));
  /* no policy grants it unless it lists it */
  assert_false(grants("[{'decision':'allow','tokenType':'organization','authorizedPermissions':"
                      "['admin'],'rules':{'sub':'repo:acme/*'}}]",
                      CLAIMS_MAIN, org_admin));
  struct oidc_request al = {.kind = TOKEN_PERSONAL, .user = "al"};
  assert_true(grants("[{'decision':'allow','tokenType':'personal','userLogin':'al',"
                     "'authorizedPermissions':['manage-access'],'rules':{'sub':'repo:acme/*'}}]",
                     CLAIMS_MAIN, al));
}

static void invalid_documents_deny_everything(void **state) {
  (void)state;
  /* would allow if trusted: an allow without rules, and one with an unsupported filter */
  assert_int_equal(decide("[{'decision':'allow','tokenType':'organization',"
                          "'authorizedPermissions':[],'rules':{}}]",
                          CLAIMS_MAIN, org),
                   OIDC_DENY);
  assert_int_equal(decide("[{'decision':'allow','tokenType':'organization','roleID':'r',"
                          "'authorizedPermissions':[],'rules':{'sub':'*'}}]",
                          CLAIMS_MAIN, org),
                   OIDC_DENY);
  assert_int_equal(decide("{'decision':'allow'}", CLAIMS_MAIN, org), OIDC_DENY);
  json_t *claims = parse(CLAIMS_MAIN), *explain = NULL;
  assert_int_equal(oidc_policy_decide(NULL, claims, &org, &explain), OIDC_DENY);
  assert_non_null(explain);
  assert_string_equal(json_string_value(json_object_get(explain, "decision")), "deny");
  assert_non_null(strstr(json_string_value(json_object_get(explain, "reason")), "invalid"));
  assert_int_equal(json_array_size(json_object_get(explain, "policies")), 0);
  json_decref(explain);
  json_decref(claims);
}

static void github_actions_claims(void **state) {
  (void)state;
  const char *doc =
      "[{'decision':'allow','tokenType':'organization','authorizedPermissions':[],"
      "'rules':{'aud':'urn:pulumi:org:acme','repository_owner':'acme',"
      "'sub':'repo:acme/*:ref:refs/heads/main'}},"
      "{'decision':'allow','tokenType':'organization','authorizedPermissions':['admin'],"
      "'rules':{'aud':'urn:pulumi:org:acme','sub':'repo:acme/infra:ref:refs/heads/main'}},"
      "{'decision':'allow','tokenType':'team','teamName':'platform','authorizedPermissions':[],"
      "'rules':{'aud':'urn:pulumi:org:acme','sub':['repo:acme/infra:*','repo:acme/platform:*']}},"
      "{'decision':'deny','tokenType':'organization','authorizedPermissions':[],"
      "'rules':{'sub':'repo:acme/*:pull_request'}}]";
  const char *main_claims =
      "{'iss':'https://token.actions.githubusercontent.com','sub':"
      "'repo:acme/infra:ref:refs/heads/main','aud':'urn:pulumi:org:acme','repository':"
      "'acme/infra','repository_owner':'acme','repository_owner_id':'1001','ref':"
      "'refs/heads/main','event_name':'push','run_attempt':'1','exp':1900000000}";
  struct oidc_request platform = {.kind = TOKEN_TEAM, .team = "platform"};
  assert_int_equal(decide(doc, main_claims, org), OIDC_ALLOW);
  assert_int_equal(decide(doc, main_claims, org_admin), OIDC_ALLOW);
  assert_int_equal(decide(doc, main_claims, platform), OIDC_ALLOW);
  assert_int_equal(decide(doc, main_claims, (struct oidc_request){TOKEN_TEAM, "security", NULL, 0}),
                   OIDC_DENY);
  assert_int_equal(decide(doc, main_claims, (struct oidc_request){TOKEN_PERSONAL, NULL, "acme", 0}),
                   OIDC_DENY);

  /* another repository's main branch: plain org tokens, no admin */
  const char *app = "{'sub':'repo:acme/app:ref:refs/heads/main','aud':'urn:pulumi:org:acme',"
                    "'repository_owner':'acme'}";
  assert_int_equal(decide(doc, app, org), OIDC_ALLOW);
  assert_int_equal(decide(doc, app, org_admin), OIDC_DENY);
  assert_int_equal(decide(doc, app, platform), OIDC_DENY);
  /* a feature branch: only the platform team's policy takes it */
  const char *feature = "{'sub':'repo:acme/infra:ref:refs/heads/feature','aud':"
                        "'urn:pulumi:org:acme','repository_owner':'acme'}";
  assert_int_equal(decide(doc, feature, org), OIDC_DENY);
  assert_int_equal(decide(doc, feature, platform), OIDC_ALLOW);
  /* pull requests are denied organization tokens, whatever else matches */
  const char *pr = "{'sub':'repo:acme/infra:pull_request','aud':'urn:pulumi:org:acme',"
                   "'repository_owner':'acme'}";
  assert_int_equal(decide(doc, pr, org), OIDC_DENY);
  assert_int_equal(decide(doc, pr, platform), OIDC_ALLOW);
  /* a look-alike owner, a token minted for another audience */
  assert_int_equal(decide(doc,
                          "{'sub':'repo:acme-evil/infra:ref:refs/heads/main','aud':"
                          "'urn:pulumi:org:acme','repository_owner':'acme-evil'}",
                          org),
                   OIDC_DENY);
  assert_int_equal(decide(doc,
                          "{'sub':'repo:acme/infra:ref:refs/heads/main','aud':"
                          "'urn:pulumi:org:other','repository_owner':'acme'}",
                          org),
                   OIDC_DENY);
  /* aud as an array: any element */
  assert_int_equal(decide(doc,
                          "{'sub':'repo:acme/infra:ref:refs/heads/main','aud':['sts.amazonaws.com',"
                          "'urn:pulumi:org:acme'],'repository_owner':'acme'}",
                          org_admin),
                   OIDC_ALLOW);
}

static json_t *rule_row(json_t *explain, size_t policy, size_t rule) {
  json_t *entry = json_array_get(json_object_get(explain, "policies"), policy);
  json_t *row = json_array_get(json_object_get(entry, "rules"), rule);
  assert_non_null(row);
  return row;
}

static bool flag(json_t *object, const char *key) {
  json_t *value = json_object_get(object, key);
  if (!json_is_boolean(value))
    fail_msg("\"%s\" is not a boolean", key);
  return json_is_true(value);
}

static void explain_says_why(void **state) {
  (void)state;
  json_t *policies = parse(
      "[{'decision':'allow','tokenType':'organization','authorizedPermissions':[],"
      "'rules':{'sub':'repo:acme/*','aud':'urn:pulumi:org:acme'}},"
      "{'decision':'allow','tokenType':'team','teamName':'platform','authorizedPermissions':[],"
      "'rules':{'sub':['repo:x/*','repo:acme/*']}},"
      "{'decision':'allow','tokenType':'organization','authorizedPermissions':[],"
      "'rules':{'repository_owner':'acme','environment':'prod'}}]");
  json_t *claims = parse("{'sub':'repo:acme/infra:ref:refs/heads/main','aud':'urn:pulumi:org:dev',"
                         "'repository_owner':'acme'}");
  json_t *explain = NULL;
  assert_int_equal(oidc_policy_decide(policies, claims, &org, &explain), OIDC_DENY);
  assert_non_null(explain);
  assert_string_equal(json_string_value(json_object_get(explain, "decision")), "deny");
  assert_non_null(strstr(json_string_value(json_object_get(explain, "reason")), "No policy"));
  json_t *list = json_object_get(explain, "policies");
  assert_int_equal(json_array_size(list), 3);

  /* policy 0 applies; sub matches, aud does not */
  json_t *p0 = json_array_get(list, 0);
  assert_int_equal(json_integer_value(json_object_get(p0, "index")), 0);
  assert_string_equal(json_string_value(json_object_get(p0, "decision")), "allow");
  assert_string_equal(json_string_value(json_object_get(p0, "tokenType")), "organization");
  assert_true(flag(p0, "applies"));
  assert_null(json_object_get(p0, "why"));
  assert_false(flag(p0, "matched"));
  json_t *sub = rule_row(explain, 0, 0), *aud = rule_row(explain, 0, 1);
  assert_string_equal(json_string_value(json_object_get(sub, "claim")), "sub");
  assert_string_equal(json_string_value(json_object_get(sub, "pattern")), "repo:acme/*");
  assert_string_equal(json_string_value(json_object_get(sub, "value")),
                      "repo:acme/infra:ref:refs/heads/main");
  assert_true(flag(sub, "matched"));
  assert_string_equal(json_string_value(json_object_get(aud, "claim")), "aud");
  assert_string_equal(json_string_value(json_object_get(aud, "value")), "urn:pulumi:org:dev");
  assert_false(flag(aud, "matched"));

  /* policy 1 is for a team: it does not apply, though its rule would match */
  json_t *p1 = json_array_get(list, 1);
  assert_false(flag(p1, "applies"));
  assert_false(flag(p1, "matched"));
  assert_non_null(strstr(json_string_value(json_object_get(p1, "why")), "team tokens"));
  json_t *p1_sub = rule_row(explain, 1, 0);
  assert_true(json_is_array(json_object_get(p1_sub, "pattern")));
  assert_int_equal(json_array_size(json_object_get(p1_sub, "pattern")), 2);
  assert_true(flag(p1_sub, "matched"));

  /* policy 2: a missing claim shows as null and does not match */
  assert_true(flag(rule_row(explain, 2, 0), "matched"));
  json_t *env = rule_row(explain, 2, 1);
  assert_string_equal(json_string_value(json_object_get(env, "claim")), "environment");
  assert_true(json_is_null(json_object_get(env, "value")));
  assert_false(flag(env, "matched"));
  json_decref(explain);

  /* the same document allows a dev-audience admin? no: the admin reason is given */
  explain = NULL;
  assert_int_equal(oidc_policy_decide(policies, claims, &org_admin, &explain), OIDC_DENY);
  assert_non_null(strstr(json_string_value(json_object_get(
                             json_array_get(json_object_get(explain, "policies"), 0), "why")),
                         "admin"));
  json_decref(explain);

  /* with the environment claim, policy 2 matches and says so */
  json_object_set_new(claims, "environment", json_string("prod"));
  explain = NULL;
  assert_int_equal(oidc_policy_decide(policies, claims, &org, &explain), OIDC_ALLOW);
  assert_string_equal(json_string_value(json_object_get(explain, "decision")), "allow");
  assert_non_null(
      strstr(json_string_value(json_object_get(explain, "reason")), "policies[2] allows it"));
  assert_false(flag(json_array_get(json_object_get(explain, "policies"), 0), "matched"));
  assert_true(flag(json_array_get(json_object_get(explain, "policies"), 2), "matched"));
  assert_true(flag(rule_row(explain, 2, 1), "matched"));
  /* the explanation holds copies: changing the claims afterwards does not change it */
  json_object_set_new(claims, "environment", json_string("changed"));
  assert_string_equal(json_string_value(json_object_get(rule_row(explain, 2, 1), "value")), "prod");
  json_decref(explain);

  /* a matching deny is named as the reason */
  json_array_append_new(policies, parse("{'decision':'deny','tokenType':'organization',"
                                        "'authorizedPermissions':[],'rules':{'aud':'*:dev'}}"));
  explain = NULL;
  assert_int_equal(oidc_policy_decide(policies, claims, &org, &explain), OIDC_DENY);
  assert_non_null(
      strstr(json_string_value(json_object_get(explain, "reason")), "policies[3] denies it"));
  assert_true(flag(json_array_get(json_object_get(explain, "policies"), 3), "matched"));
  assert_true(flag(rule_row(explain, 3, 0), "matched"));
  json_decref(explain);
  json_decref(claims);
  json_decref(policies);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(patterns_are_literal_anchored_and_case_sensitive),
      cmocka_unit_test(stars_match_any_run),
      cmocka_unit_test(question_marks_take_one_code_point),
      cmocka_unit_test(hostile_patterns_finish),
      cmocka_unit_test(claim_paths_select_nested_and_quoted_members),
      cmocka_unit_test(claim_values_match_as_text),
      cmocka_unit_test(valid_documents_pass),
      cmocka_unit_test(document_shape_is_checked),
      cmocka_unit_test(policy_fields_are_checked),
      cmocka_unit_test(team_and_user_filters_are_checked),
      cmocka_unit_test(permissions_are_checked),
      cmocka_unit_test(rules_are_checked),
      cmocka_unit_test(claim_paths_and_patterns_are_bounded_and_printable),
      cmocka_unit_test(malformed_claim_paths_are_refused),
      cmocka_unit_test(reasons_stay_valid_utf8_when_cut),
      cmocka_unit_test(matching_allow_allows_and_no_match_denies),
      cmocka_unit_test(deny_wins_over_allow),
      cmocka_unit_test(team_and_user_filters_select_policies),
      cmocka_unit_test(admin_needs_authorized_permissions),
      cmocka_unit_test(manage_access_is_granted_only_by_a_matching_allow),
      cmocka_unit_test(invalid_documents_deny_everything),
      cmocka_unit_test(github_actions_claims),
      cmocka_unit_test(explain_says_why),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
