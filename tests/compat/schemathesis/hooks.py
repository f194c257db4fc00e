"""Tessera's own checks for Schemathesis (loaded with SCHEMATHESIS_HOOKS by scripts/schemathesis).

The subset document's global security requirement is the researcher's addition, not Pulumi's: it
is lifted from the two operations that take no access token (before_load_schema below), and two
required fields that Pulumi Cloud does not require are made optional there, with the evidence.

Pulumi's OpenAPI document lists, for most operations, only the status of success (200 or 204),
though Pulumi Cloud answers bad requests, missing rights and unknown names with 4xx errors like
any service. Schemathesis's status_code_conformance would fail every such answer, so it is
replaced by tessera_status_code_conformance: a status must be documented for the operation, or be
one of the error statuses of Tessera's contract (docs/CONTRACT.md) with the error body that goes
with it. A 5xx is never accepted (not_a_server_error fails it too).
"""

import json

import schemathesis

# Operations that take no access token. Token is the OAuth 2.0 token exchange: the ID token in
# its body is the credential (RFC 8693), and `pulumi login --oidc-token` sends no Authorization.
# Capabilities says which optional APIs exist; it holds nothing of anyone's (docs/CONTRACT.md).
UNAUTHENTICATED = {"Token", "Capabilities"}

# Pulumi's schema requires both fields of a token creation; Pulumi Cloud does not: its own Cloud
# provider's index:AccessToken, OrgAccessToken and TeamAccessToken send no expires at all (and
# work), and Tessera takes an absent description as "" and an absent expires as "never".
OPTIONAL_CREATE_FIELDS = ("description", "expires")


@schemathesis.hook
def before_load_schema(context, raw_schema):
    for methods in raw_schema.get("paths", {}).values():
        for operation in methods.values():
            if isinstance(operation, dict) and operation.get("operationId") in UNAUTHENTICATED:
                operation["security"] = []
    # The subset has only PATCH of this path; Pulumi's full document also has GET
    # (GetOrganization), which Tessera implements and so names in Allow. Not tested here (it is
    # not in scripts/schemathesis's list); present so that Allow is checked against both.
    org = raw_schema["paths"].get("/api/orgs/{orgName}")
    if org is not None and "get" not in org:
        org["get"] = {"operationId": "GetOrganization", "responses": {"200": {"description": "OK"}}}
    base = raw_schema["components"]["schemas"]["BaseCreateAccessTokenRequest"]
    base["required"] = [f for f in base.get("required", []) if f not in OPTIONAL_CREATE_FIELDS]

# What Tessera answers besides the documented statuses, and nothing else.
ERROR_STATUSES = {400, 401, 403, 404, 405, 409, 413, 414, 415, 429, 431, 501, 503}
OAUTH_TOKEN_PATH = "/api/oauth/token"  # RFC 6749 errors: {"error", "error_description"}


def documented(case):
    out = set()
    for code in case.operation.responses.status_codes:
        if code == "default":
            return None
        if code.upper().endswith("XX"):
            base = int(code[0]) * 100
            out.update(range(base, base + 100))
        else:
            out.add(int(code))
    return out


@schemathesis.check
def tessera_status_code_conformance(ctx, response, case):
    """A documented status, or a Tessera error status with its error body."""
    allowed = documented(case)
    status = response.status_code
    if allowed is None or status in allowed:
        return None
    if status not in ERROR_STATUSES:
        raise AssertionError(f"status {status} is neither documented ({sorted(allowed)}) nor one of Tessera's error statuses")
    try:
        body = json.loads(response.content)
    except ValueError as e:
        raise AssertionError(f"the {status} answer is not JSON: {e}") from e
    if case.operation.path == OAUTH_TOKEN_PATH and status in (400, 401, 429):
        if not (isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("error_description"), str)):
            raise AssertionError(f"the {status} answer is not an OAuth error body: {body!r}")
        return None
    if not (isinstance(body, dict) and set(body) == {"code", "message"} and body["code"] == status and isinstance(body["message"], str) and body["message"]):
        raise AssertionError(f'the {status} answer is not {{"code": {status}, "message": "..."}}: {body!r}')
    return None
