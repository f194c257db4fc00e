#ifndef TESSERA_API_API_H
#define TESSERA_API_API_H

#include "http/request.h"
#include "http/router.h"

/* One handler per operation; Pulumi's operationId in the comment. */

void api_healthz(struct request *req);
void api_auth_check(struct request *req); /* forward auth for reverse proxies (auth_check.c) */
void api_oauth_introspect(struct request *req);   /* RFC 7662 (oauth_tokens.c) */
void api_oauth_revoke(struct request *req);       /* RFC 7009 (oauth_tokens.c) */
void api_token_leaks_report(struct request *req); /* a secret scanner's finds (token_leaks.c) */
/* The route table: each method and path with its handler (routes.c), ended by a NULL method. */
extern const struct route api_routes[];

void api_console_index(struct request *req);    /* the web console's page */
void api_console_asset(struct request *req);    /* its scripts and styles */
void api_cli_login_page(struct request *req);   /* GET /cli-login: Pulumi's CLI's browser login */
void api_cli_welcome_page(struct request *req); /* GET /welcome/cli: where that login ends */
void api_console_session_create(struct request *req);             /* console sign-in */
void api_console_session_get(struct request *req);                /* the current console session */
void api_console_session_delete(struct request *req);             /* console sign-out */
void api_capabilities(struct request *req);                       /* Capabilities */
void api_user_get(struct request *req);                           /* GetCurrentUser */
void api_user_default_org(struct request *req);                   /* GetDefaultOrganization */
void api_personal_token_create(struct request *req);              /* CreatePersonalToken */
void api_personal_token_list(struct request *req);                /* ListPersonalTokens */
void api_personal_token_delete(struct request *req);              /* DeletePersonalToken */
void api_org_get(struct request *req);                            /* GetOrganization */
void api_org_members_list(struct request *req);                   /* ListOrganizationMembers */
void api_org_member_add(struct request *req);                     /* AddOrganizationMember */
void api_org_member_update(struct request *req);                  /* UpdateOrganizationMember */
void api_org_member_delete(struct request *req);                  /* DeleteOrganizationMember */
void api_org_settings_update(struct request *req);                /* UpdateOrganizationSettings */
void api_org_metadata(struct request *req);                       /* GetOrganizationMetadata */
void api_org_token_create(struct request *req);                   /* CreateOrgToken */
void api_org_token_list(struct request *req);                     /* ListOrgTokens */
void api_org_token_delete(struct request *req);                   /* DeleteOrgToken */
void api_team_token_create(struct request *req);                  /* CreateTeamToken */
void api_team_token_list(struct request *req);                    /* ListTeamTokens */
void api_team_token_delete(struct request *req);                  /* DeleteTeamToken */
void api_oidc_issuer_register(struct request *req);               /* RegisterOidcIssuer */
void api_oidc_issuers_list(struct request *req);                  /* List_orgs_oidc_issuers */
void api_oidc_issuer_get(struct request *req);                    /* GetOidcIssuer */
void api_oidc_issuer_update(struct request *req);                 /* UpdateOidcIssuer */
void api_oidc_issuer_delete(struct request *req);                 /* DeleteOidcIssuer */
void api_oidc_issuer_regenerate_thumbprints(struct request *req); /* RegenerateThumbprints */
void api_oidc_issuer_explain(struct request *req); /* Tessera's own: why a token would pass */
void api_auth_policy_get(struct request *req);     /* GetAuthPolicy */
void api_auth_policy_update(struct request *req);  /* UpdateAuthPolicy */
void api_oauth_token(struct request *req);         /* Token (OIDC token exchange) */
void api_teams_list(struct request *req);          /* ListTeams */
void api_team_create(struct request *req);         /* CreatePulumiTeam */
void api_team_get(struct request *req);            /* GetTeam */
void api_team_update(struct request *req);         /* UpdateTeam */
void api_team_delete(struct request *req);         /* DeleteTeam */
void api_auditlogs_v1(struct request *req);        /* ListAuditLogEventsHandlerV1 */
void api_auditlogs_v2(struct request *req);        /* ListAuditLogEventsHandlerV2 */
void api_auditlogs_export(struct request *req);    /* ExportAuditLogEventsHandlerV2 */

#endif
