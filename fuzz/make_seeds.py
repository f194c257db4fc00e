#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (fuzz/corpus/<target>/), in the input
formats documented at the top of each fuzz/fuzz_<target>.c. Run once, and again when a format or
the route table changes: python3 fuzz/make_seeds.py [TARGET...]. It rewrites only its own
directories. The router's seeds name routes by method and pattern and find their index in
src/api/routes.c, so they follow the table when it changes."""

import json
import os
import re
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write(target, seeds):
    out = os.path.join(HERE, "corpus", target)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name, data in seeds:
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def j(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# ---- policy: policies NUL claims NUL request(flags, team) NUL user NUL pattern NUL text ----

ORG, TEAM, PERSONAL = 0, 1, 2
ADMIN, NO_TEAM, NO_USER, NO_REQUEST = 4, 8, 16, 32


def policy_seed(policies, claims, flags=ORG, team=b"", user=b"", pattern=b"", text=b""):
    doc = policies if isinstance(policies, bytes) else j(policies)
    cl = claims if isinstance(claims, bytes) else j(claims)
    return b"\0".join([doc, cl, bytes([flags]) + team, user, pattern, text])


def allow(kind, rules, **extra):
    p = {"decision": "allow", "tokenType": kind, "authorizedPermissions": [], "rules": rules}
    p.update(extra)
    return p


def deny(kind, rules, **extra):
    p = dict(allow(kind, rules, **extra), decision="deny")
    return p


GITHUB = {
    "iss": "https://token.actions.githubusercontent.com",
    "aud": "urn:pulumi:org:acme",
    "sub": "repo:acme/app:ref:refs/heads/main",
    "repository": "acme/app",
    "ref": "refs/heads/main",
    "run_number": 42,
    "ratio": 0.5,
    "draft": False,
    "groups": ["dev", "ops", 7],
    "kubernetes.io": {"namespace": "ci", "pod": {"name": "runner-1"}},
}


def policy_seeds():
    s = []
    s.append(("org-allow", policy_seed([allow("organization", {"sub": "repo:acme/*"})], GITHUB)))
    s.append(("org-admin", policy_seed(
        [allow("organization", {"repository": "acme/app"}, authorizedPermissions=["admin"])],
        GITHUB, ORG | ADMIN)))
    s.append(("org-admin-not-granted", policy_seed(
        [allow("organization", {"repository": "acme/app"})], GITHUB, ORG | ADMIN)))
    s.append(("deny-wins", policy_seed(
        [allow("organization", {"sub": "*"}), deny("organization", {"ref": "refs/heads/*"})],
        GITHUB)))
    s.append(("team", policy_seed(
        [allow("team", {"repository": ["acme/*", "other/*"]}, teamName="devs")],
        GITHUB, TEAM, b"devs")))
    s.append(("team-case", policy_seed(
        [allow("team", {"repository": "acme/app"}, teamName="Devs")], GITHUB, TEAM, b"devs")))
    s.append(("team-missing", policy_seed(
        [allow("team", {"repository": "acme/app"}, teamName="devs")], GITHUB, TEAM | NO_TEAM)))
    s.append(("personal", policy_seed(
        [allow("personal", {"sub": "repo:acme/app:*"}, userLogin="alice")],
        GITHUB, PERSONAL, b"", b"alice")))
    s.append(("personal-other", policy_seed(
        [allow("personal", {"sub": "repo:acme/app:*"}, userLogin="alice")],
        GITHUB, PERSONAL, b"", b"bob")))
    s.append(("nested-claim", policy_seed(
        [allow("organization", {'"kubernetes.io".pod.name': "runner-?",
                                '"kubernetes.io".namespace': "ci"})], GITHUB,
        pattern=b'"kubernetes.io".pod.name', text=b"runner-1")))
    s.append(("numbers", policy_seed(
        [allow("organization", {"run_number": "4?", "ratio": "0.5", "draft": "false"})], GITHUB)))
    s.append(("array-claim", policy_seed([allow("organization", {"groups": ["ops", "7"]})],
                                         GITHUB)))
    s.append(("empty", policy_seed([], GITHUB)))
    s.append(("not-array", policy_seed({"decision": "allow"}, GITHUB)))
    s.append(("no-rules-allow", policy_seed([allow("organization", {})], GITHUB)))
    s.append(("deny-no-rules", policy_seed([deny("organization", {})], GITHUB)))
    s.append(("unknown-field", policy_seed(
        [dict(allow("organization", {"sub": "*"}), extra=1)], GITHUB)))
    s.append(("role-null", policy_seed(
        [dict(allow("organization", {"sub": "*"}), roleID=None, runnerID=None)], GITHUB)))
    s.append(("role-set", policy_seed([dict(allow("organization", {"sub": "*"}), roleID="r")],
                                      GITHUB)))
    s.append(("bad-path", policy_seed(
        [allow("organization", {'a."b': "x", "": "y", "a..b": "z"})], GITHUB)))
    s.append(("nul-in-pattern", policy_seed(
        b'[{"decision":"allow","tokenType":"organization","authorizedPermissions":[],'
        b'"rules":{"sub":"repo\\u0000x"}}]', GITHUB)))
    s.append(("nul-in-claim", policy_seed(
        [allow("organization", {"sub": "repo:acme/x"})],
        b'{"sub":"repo:acme/x\\u0000evil"}')))
    s.append(("unicode", policy_seed(
        [allow("organization", {"sub": "caf?", "name": "*\u00e9*"})],
        {"sub": "caf\u00e9", "name": "r\u00e9sum\u00e9"},
        pattern="caf?".encode(), text="caf\u00e9".encode())))
    s.append(("long-pattern", policy_seed(
        [allow("organization", {"sub": "*a" * 300})], {"sub": "a" * 700})))
    s.append(("many-policies", policy_seed(
        [allow("organization", {"sub": "x%d" % i}) for i in range(65)], GITHUB)))
    s.append(("no-request", policy_seed([allow("organization", {"sub": "*"})], GITHUB,
                                        ORG | NO_REQUEST)))
    s.append(("small-reason", policy_seed(
        [allow("organization", {"\u00e9" * 40: 1})], GITHUB, ORG | 0x40)))
    s.append(("tiny-reason", policy_seed([{"decision": "maybe"}], GITHUB, ORG | 0x80)))
    s.append(("bad-names", policy_seed(
        [allow("team", {"sub": "*"}, teamName="-bad"), allow("personal", {"sub": "*"})],
        GITHUB, TEAM, b"-bad")))
    s.append(("permissions", policy_seed(
        [allow("team", {"sub": "*"}, teamName="devs", authorizedPermissions=["admin"]),
         allow("organization", {"sub": "*"}, authorizedPermissions=["admin", "admin"])],
        GITHUB, TEAM, b"devs")))
    s.append(("claims-not-object", policy_seed([allow("organization", {"sub": "*"})],
                                               b'["sub"]')))
    s.append(("pattern-stars", policy_seed(b"", b"", pattern=b"a*b*c*d*e*f*g*h?",
                                           text=b"aXbXcXdXeXfXgXhXX" * 3 + b"hZ")))
    s.append(("pattern-question", policy_seed(b"", b"", pattern=b"??*?",
                                              text="\u00e9\u4e2d\U0001F600".encode())))
    s.append(("pattern-bad-utf8", policy_seed(b"", b"", pattern=b"?\x80*", text=b"\xc3\x80\x80x")))
    return s


# ---- paging: position[8] text NUL scope NUL other NUL page-size ----

def crc32(data):
    import zlib
    return zlib.crc32(data) & 0xffffffff


def page_token(position, scope):
    material = ("%x:" % position).encode() + scope
    return ("%x.%08x" % (position, crc32(material))).encode()


def paging_seed(position, text, scope, other, size=None):
    parts = [text, scope, other] + ([size] if size is not None else [])
    return struct.pack("<q", position) + b"\0".join(parts)


def paging_seeds():
    s = []
    scopes = [b"4f1c0c5e-7f4a-4d7e-9a59-2b8f2c1d3e4f", b"audit:1", b"org-members:1",
              b"org-tokens:2", b"team-tokens:3", b""]
    for i, scope in enumerate(scopes):
        pos = [1, 100, 12345, 2**31, 2**63 - 1, 7][i]
        s.append(("valid-%d" % i, paging_seed(pos, page_token(pos, scope), scope,
                                              scopes[(i + 1) % len(scopes)], b"%d" % (i * 200 + 1))))
    s.append(("edited", paging_seed(5, page_token(5, b"audit:1")[:-1] + b"0", b"audit:1",
                                    b"audit:2", b"1000")))
    s.append(("leading-zero", paging_seed(5, b"0" + page_token(5, b"audit:1"), b"audit:1",
                                          b"audit:1", b"0100")))
    s.append(("zero", paging_seed(0, page_token(0, b"audit:1"), b"audit:1", b"audit:9",
                                  b"0")))
    s.append(("negative", paging_seed(-1, b"ffffffffffffffff.00000000", b"audit:1", b"x",
                                      b"1001")))
    s.append(("too-long", paging_seed(3, b"1" * 70, b"s", b"t", b"10000")))
    s.append(("uppercase", paging_seed(10, page_token(10, b"s").upper(), b"s", b"t", b"-1")))
    s.append(("no-size", paging_seed(42, page_token(42, b"user-a"), b"user-a", b"user-b")))
    long_scope = b"org-tokens:" + b"9" * 140
    s.append(("long-scope", paging_seed(77, page_token(77, long_scope), long_scope,
                                        long_scope[:-1] + b"8", b"50")))
    s.append(("spaces", paging_seed(9, b" 9.12345678", b"s", b"s2", b" 5")))
    s.append(("empty", paging_seed(1, b"", b"", b"", b"")))
    return s


# ---- time: seconds[8] now[8] days[2] text ----

def time_seed(seconds, now, days, text):
    return struct.pack("<qQh", seconds, now, days) + text


NOW = 1767225600  # 2026-01-01T00:00:00Z


def time_seeds():
    s = []
    texts = [b"2026-12-01T00:00:00Z", b"2026-12-01t00:00:00z", b"2026-12-01 02:00:00+02:00",
             b"2026-11-30T19:30:00-04:30", b"2026-12-01T00:00:00.999999Z",
             b"1970-01-01T00:00:00Z", b"1969-12-31T23:59:59Z", b"2028-02-29T00:00:00Z",
             b"2100-02-29T00:00:00Z", b"2026-12-31T23:59:60Z", b"0000-01-01T00:00:00+00:01",
             b"9999-12-31T23:59:59-23:59", b"2026-12-01T00:00:00+24:00", b"2026-12-01T00:00:00.Z",
             b"2026-12-01", b"1970-01-01", b"1969-07-20", b"30d", b"2w", b"12h", b"90m", b"0d",
             b"106w", b" +5d", b"never", b"0", b"-0", b"+1767225600", b"1767225600",
             b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808", b"",
             b"tomorrow", b"2026-13-01T00:00:00Z"]
    for i, text in enumerate(texts):
        seconds = [NOW + 3600, 0, -1, 2**63 - 1, -2**63, 253402300799, 253402300800,
                   -62167219200, -62167219201, -30610224001, NOW + 731 * 86400,
                   NOW + 731 * 86400 + 1][i % 12]
        days = [0, 30, 1, -1, 3650, 32767][i % 6]
        s.append(("t%02d" % i, time_seed(seconds, NOW + i * 977, days, text)))
    return s


# ---- router: see fuzz/fuzz_router.c ----

def routes():
    text = open(os.path.join(ROOT, "src", "api", "routes.c")).read()
    return re.findall(r'\{"([A-Z]+)", "([^"]+)",', text)


CRED = {name: i for i, name in enumerate([
    "none", "site-admin", "org-admin", "member", "soon", "outsider", "org-token-admin",
    "org-token", "team-token", "expired", "oidc-personal", "session", "session-no-csrf",
    "literal", "bearer", "bad-checksum", "capped"])}
JSON_TYPE, FORM_TYPE, TEXT_TYPE, NO_TYPE = 0, 1, 2, 3
SITE_NONE, SITE_SAME, SITE_CROSS, SITE_ABSENT = 0, 4, 8, 12
SIGNED, UNKNOWN_KID = 16, 32


def router_seed(table, method, pattern, cred="org-admin", params=(b"", b"", b""), query=b"",
                body=b"", ctype=JSON_TYPE, site=SITE_ABSENT, auth=b"", method_byte=0):
    index = table.index((method, pattern))
    p = list(params) + [b""] * (3 - len(params))
    header = bytes([index, method_byte, CRED[cred], ctype | site])
    b = body if isinstance(body, bytes) else j(body)
    return header + b"\0".join(p + [query, auth, b])


def router_seeds():
    t = routes()
    s = []

    def add(name, *args, **kwargs):
        s.append((name, router_seed(t, *args, **kwargs)))

    add("healthz", "GET", "/healthz", "none")
    add("index", "GET", "/", "none")
    add("asset", "GET", "/console/{}", "none", (b"\x01",))
    add("asset-missing", "GET", "/console/{}", "none", (b"nope.js",))
    add("signin-token", "POST", "/console/session", "none", body={"token": "pul-0"},
        site=SITE_SAME)
    add("signin-password", "POST", "/console/session", "none",
        body={"login": "alice", "password": "correct horse"}, site=SITE_NONE)
    add("signin-cross", "POST", "/console/session", "none", body={}, site=SITE_CROSS)
    add("session-get", "GET", "/console/session", "session")
    add("session-delete", "DELETE", "/console/session", "session-no-csrf")
    add("capabilities", "GET", "/api/capabilities", "none")
    add("cli-login", "GET", "/cli-login", "none",
        query=b"cliSessionPort=43567&cliSessionNonce=0123456789abcdef0123456789abcdef")
    add("cli-login-bad", "GET", "/cli-login", "session",
        query=b"cliSessionPort=80&CLISESSIONPORT=5000&cliSessionNonce=x")
    add("cli-welcome", "GET", "/welcome/cli", "none")
    for cred in ["site-admin", "org-token", "team-token", "oidc-personal", "soon", "literal",
                 "bearer", "bad-checksum", "expired", "none"]:
        add("user-" + cred, "GET", "/api/user", cred, auth=b"token  pul-abc ")
    add("default-org", "GET", "/api/user/organizations/default", "member")
    add("personal-list", "GET", "/api/user/tokens", "org-admin",
        query=b"filter=all&maxResults=1&continuationToken=1.00000000")
    add("personal-create", "POST", "/api/user/tokens", "member",
        query=b"reason=ci", body={"description": "ci", "expires": "2027-01-01T00:00:00Z"})
    add("personal-create-session", "POST", "/api/user/tokens", "session",
        body={"description": "console", "expires": 0})
    add("personal-delete", "DELETE", "/api/user/tokens/{}", "member", (b"\x03",))
    add("org-get", "GET", "/api/orgs/{}", "member")
    add("org-capped", "GET", "/api/orgs/{}", "capped", (b"\x01",))
    add("org-settings", "PATCH", "/api/orgs/{}", "org-admin", body={"setMaxAccessTokenExpiryDays": 0})
    add("org-metadata", "GET", "/api/orgs/{}/metadata", "outsider")
    add("members", "GET", "/api/orgs/{}/members", "member", query=b"type=frontend")
    add("member-add", "POST", "/api/orgs/{}/members/{}", "org-admin", (b"", b"\x03"),
        body={"role": "member"})
    add("member-update", "PATCH", "/api/orgs/{}/members/{}", "site-admin", (b"", b"\x02"),
        body={"role": "admin"})
    add("member-fga", "PATCH", "/api/orgs/{}/members/{}", "org-admin", (b"", b"\x01"),
        body={"fgaRoleId": "x"})
    add("member-delete", "DELETE", "/api/orgs/{}/members/{}", "member", (b"", b"\x02"))
    add("audit-v1", "GET", "/api/orgs/{}/auditlogs", "org-admin", query=b"startTime=9999999999")
    add("audit-v2", "GET", "/api/orgs/{}/auditlogs/v2", "org-admin",
        query=b"startTime=1&endTime=99999999999&eventFilter=member-added&userFilter=alice")
    add("audit-export", "GET", "/api/orgs/{}/auditlogs/v2/export", "site-admin",
        query=b"format=csv")
    add("teams", "GET", "/api/orgs/{}/teams", "team-token")
    add("team-create", "POST", "/api/orgs/{}/teams/pulumi", "org-admin",
        body={"name": "ops", "displayName": "Ops", "description": "=cmd|' /C calc'!A0"})
    add("team-get", "GET", "/api/orgs/{}/teams/{}", "member")
    add("team-update", "PATCH", "/api/orgs/{}/teams/{}", "member",
        body={"newDisplayName": "Devs", "memberAction": "add", "member": "carol"})
    add("team-delete", "DELETE", "/api/orgs/{}/teams/{}", "org-token-admin")
    add("org-tokens", "GET", "/api/orgs/{}/tokens", "org-token", query=b"filter=expired")
    add("org-token-create", "POST", "/api/orgs/{}/tokens", "org-admin",
        body={"name": "deploy", "description": "d", "expires": 0, "admin": True})
    add("org-token-create-capped", "POST", "/api/orgs/{}/tokens", "site-admin", (b"\x01",),
        body={"name": "deploy-2", "expires": 1999999999, "roleID": ""})
    add("org-token-delete", "DELETE", "/api/orgs/{}/tokens/{}", "org-admin", (b"", b"\x01"))
    add("team-tokens", "GET", "/api/orgs/{}/teams/{}/tokens", "member",
        query=b"show_expired=true")
    add("team-token-create", "POST", "/api/orgs/{}/teams/{}/tokens", "member",
        query=b"reason=x", body={"name": "t1", "description": "", "expires": 1999999999})
    add("team-token-delete", "DELETE", "/api/orgs/{}/teams/{}/tokens/{}", "member",
        query=b"reason=cleanup")
    add("issuers", "GET", "/api/orgs/{}/oidc/issuers", "org-admin")
    add("issuer-register-static", "POST", "/api/orgs/{}/oidc/issuers", "org-admin",
        body={"name": "gitlab", "url": "https://gitlab.example.com", "maxExpiration": 3600,
              "thumbprints": ["A" * 64],
              "jwks": {"keys": [{"kty": "EC", "kid": "e1", "crv": "P-256",
                                 "x": "3hUp3oSd1MTTfxyUnKpKZNRPDOD0wTcvadguUAUQGfg",
                                 "y": "Z7GTcSmyfgoCs_U7MhfxcZDgS4AmdLt-kXSl0t3b0gM"}]}})
    add("issuer-register-fetch", "POST", "/api/orgs/{}/oidc/issuers", "org-admin",
        body={"name": "gh", "url": "https://token.actions.githubusercontent.com"})
    add("issuer-get", "GET", "/api/orgs/{}/oidc/issuers/{}", "org-admin", (b"", b"\x01"))
    add("issuer-update", "PATCH", "/api/orgs/{}/oidc/issuers/{}", "org-admin",
        body={"name": "renamed", "maxExpiration": 60, "thumbprints": []})
    add("issuer-delete", "DELETE", "/api/orgs/{}/oidc/issuers/{}", "org-admin", (b"", b"\x02"))
    add("issuer-regenerate", "POST", "/api/orgs/{}/oidc/issuers/{}/regenerate-thumbprints",
        "org-admin", (b"", b"\x01"))
    add("issuer-explain", "POST", "/api/orgs/{}/oidc/issuers/{}/explain", "org-admin",
        body={"token": "eyJhbGciOiJFUzI1NiIsImtpZCI6ImUxIn0.eyJpc3MiOiJodHRwczovL2NpLmV4YW1wbGUu"
                       "Y29tIiwic3ViIjoicmVwbzphY21lL2FwcCJ9.AAAA",
              "requested_token_type": "urn:pulumi:token-type:access_token:team",
              "scope": "team:devs"})
    add("policy-get", "GET", "/api/orgs/{}/auth/policies/oidcissuers/{}", "org-admin")
    add("policy-update", "PATCH", "/api/orgs/{}/auth/policies/{}", "org-admin",
        body={"policies": [allow("organization", {"sub": "repo:acme/*"}),
                           deny("team", {"ref": "refs/heads/x"}, teamName="devs")]})
    add("oauth-form", "POST", "/api/oauth/token", "none", ctype=FORM_TYPE,
        body=b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
             b"&audience=urn:pulumi:org:acme&subject_token_type="
             b"urn:ietf:params:oauth:token-type:id_token&subject_token=a.b.c"
             b"&requested_token_type=urn:pulumi:token-type:access_token:personal"
             b"&scope=user:bob&expiration=60")
    add("oauth-json", "POST", "/api/oauth/token", "none",
        body={"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
              "audience": "urn:pulumi:org:acme",
              "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
              "subject_token": "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2NpLmV4YW1wbGUuY29tIn0.x",
              "requested_token_type": "urn:pulumi:token-type:access_token:organization",
              "scope": "admin", "expiration": 3600})
    add("oauth-nul", "POST", "/api/oauth/token", "none", ctype=FORM_TYPE,
        body=b"grant_type=x\0&scope=y")
    claims = {"iss": "https://ci.example.com", "aud": "urn:pulumi:org:acme",
              "sub": "repo:acme/app:ref:refs/heads/main", "ref": "refs/heads/main",
              "exp": 4102444800, "nbf": 1700000000, "iat": 1700000000}
    exchange = (b"grant_type=urn:ietf:params:oauth:grant-type:token-exchange"
                b"&audience=urn:pulumi:org:acme"
                b"&subject_token_type=urn:ietf:params:oauth:token-type:id_token"
                b"&subject_token=$ID_TOKEN&requested_token_type=urn:pulumi:token-type:access_token:")
    for name, kind in [("org-admin", b"organization&scope=admin"), ("team", b"team&scope=team:devs"),
                       ("personal", b"personal&scope=user:bob&expiration=600"),
                       ("denied", b"organization")]:
        c = dict(claims, ref="refs/heads/evil") if name == "denied" else claims
        add("exchange-" + name, "POST", "/api/oauth/token", "none", ctype=FORM_TYPE | SIGNED,
            auth=j(c), body=exchange + kind)
    add("exchange-json", "POST", "/api/oauth/token", "none", ctype=JSON_TYPE | SIGNED,
        auth=j(claims),
        body={"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
              "audience": "urn:pulumi:org:acme", "subject_token": "$ID_TOKEN",
              "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
              "requested_token_type": "urn:pulumi:token-type:access_token:team",
              "scope": "team:devs", "expiration": 60})
    add("exchange-refresh", "POST", "/api/oauth/token", "none",
        ctype=FORM_TYPE | SIGNED | UNKNOWN_KID,
        auth=j(dict(claims, iss="https://token.actions.githubusercontent.com")),
        body=exchange + b"organization")
    add("explain-signed", "POST", "/api/orgs/{}/oidc/issuers/{}/explain", "org-admin",
        ctype=JSON_TYPE | SIGNED, auth=j(claims),
        body={"token": "$ID_TOKEN", "requested_token_type":
              "urn:pulumi:token-type:access_token:personal", "scope": "user:bob"})
    add("explain-expired", "POST", "/api/orgs/{}/oidc/issuers/{}/explain", "site-admin",
        ctype=JSON_TYPE | SIGNED, auth=j(dict(claims, exp=1700000001)), body={"token": "$ID_TOKEN"})
    add("literal-auth", "GET", "/api/user", "literal", auth=b"Bearer \t pul-" + b"0" * 40)
    add("literal-cookie", "GET", "/console/session", "literal", auth=b"a" * 64)
    add("signin-with-token", "POST", "/console/session", "none", site=SITE_SAME,
        body={"token": "pul-" + "0" * 40})
    add("wrong-method", "GET", "/api/user", "member", method_byte=0xf3)
    add("leaks", "POST", "/api/tokens/leaks", "none",
        body=[{"token": "pul-" + "0" * 40, "type": "tessera_token", "url": "https://x/y#L1",
               "source": "content"}, {"token": "nonsense", "extra": 1}])
    add("leaks-empty", "POST", "/api/tokens/leaks", "none")
    add("introspect", "POST", "/api/oauth/introspect", "member", ctype=FORM_TYPE,
        body=b"token=pul-" + b"0" * 40)
    add("revoke", "POST", "/api/oauth/revoke", "none", ctype=FORM_TYPE, body=b"token=x")
    s.append(("no-route", bytes([len(t), 0, CRED["member"], 0]) +
              b"\0".join([b"api/orgs/acme/nothing", b"", b"", b"", b"", b""])))
    add("bad-json", "POST", "/api/user/tokens", "member", body=b'{"description": "x", "description": 1}')
    add("deep-json", "POST", "/api/user/tokens", "member", body=b"{\"a\":" * 20 + b"1" + b"}" * 20)
    return s


TARGETS = {"policy": policy_seeds, "paging": paging_seeds, "time": time_seeds,
           "router": router_seeds}

if __name__ == "__main__":
    for target in sys.argv[1:] or TARGETS:
        seeds = TARGETS[target]()
        write(target, seeds)
        print("%s: %d seeds" % (target, len(seeds)))
