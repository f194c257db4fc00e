#include "http/router.h"

#include "api/api.h"

const struct route routes[] = {
    {"GET", "/healthz", api_healthz, false},
    {"GET", "/api/capabilities", api_capabilities, false},
    {"GET", "/api/user", api_user_get, true},
    {"GET", "/api/user/organizations/default", api_user_default_org, true},
    {"GET", "/api/user/tokens", api_personal_token_list, true},
    {"POST", "/api/user/tokens", api_personal_token_create, true},
    {"DELETE", "/api/user/tokens/{}", api_personal_token_delete, true},
    {"GET", "/api/orgs/{}", api_org_get, true},
    {"GET", "/api/orgs/{}/members", api_org_members_list, true},
    {"POST", "/api/orgs/{}/members/{}", api_org_member_add, true},
    {"PATCH", "/api/orgs/{}/members/{}", api_org_member_update, true},
    {"DELETE", "/api/orgs/{}/members/{}", api_org_member_delete, true},
    {"GET", "/api/orgs/{}/auditlogs", api_auditlogs_v1, true},
    {"GET", "/api/orgs/{}/auditlogs/v2", api_auditlogs_v2, true},
    {"GET", "/api/orgs/{}/auditlogs/v2/export", api_auditlogs_export, true},
    {"GET", "/api/orgs/{}/teams", api_teams_list, true},
    {"POST", "/api/orgs/{}/teams/pulumi", api_team_create, true},
    {"GET", "/api/orgs/{}/teams/{}", api_team_get, true},
    {"PATCH", "/api/orgs/{}/teams/{}", api_team_update, true},
    {"DELETE", "/api/orgs/{}/teams/{}", api_team_delete, true},
    {NULL, NULL, NULL, false},
};
