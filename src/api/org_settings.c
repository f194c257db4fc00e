/* Organization settings: UpdateOrganizationSettings (of which Tessera keeps one,
 * setMaxAccessTokenExpiryDays, the July 2026 token-lifetime policy) and GetOrganizationMetadata.
 * OrganizationMetadata has many required fields about products Tessera does not have; they are
 * rendered with their "none" values so that Pulumi's clients can read the reply. */

#include "api/api.h"

#include "api/audit_event.h"
#include "api/org_access.h"
#include "core/error.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <string.h>

/* OrganizationFeatures' required flags but auditLogsEnabled: Tessera has none of these products. */
static const char *const absent_features[] = {
    "agentIntegrationCatalogEnabled",
    "agentPoolRegistrationEnabled",
    "agentScheduledTasksEnabled",
    "aiAgentsEnabled",
    "aleEnabled",
    "approvalsEnabled",
    "auditLogUIFilteringEnabled",
    "bitbucketVCSEnabled",
    "bringYourOwnKeyEnabled",
    "cliIntegrationCatalogEnabled",
    "crossGuardEnabled",
    "customRoleCondition",
    "customRolesEnabled",
    "customTemplatesEnabled",
    "customVCSEnabled",
    "dependencyCachingEnabled",
    "deployEnabled",
    "discoveredStacksEnabled",
    "driftDetectionEnabled",
    "environmentRevisionTagsEnabled",
    "environmentSecretRotationEnabled",
    "environmentsEnabled",
    "environmentsRestoreEnabled",
    "escEditorRevampEnabled",
    "escOnboardingAzureOAuthClientEnabled",
    "escOnboardingEnabled",
    "escOnboardingGcpOAuthClientEnabled",
    "escOnboardingV2Enabled",
    "fixDriftWithNeoEnabled",
    "ghAppDetailedDiffEnabled",
    "gitHubEnterpriseIntegrationEnabled",
    "iacCloudImportEnabled",
    "insightsAutoPolicyPacksEnabled",
    "insightsMonetizationEnabled",
    "integrationAssistantEnabled",
    "legacyDeploymentsOrgToken",
    "neoByokEnabled",
    "neoPlanModeEnabled",
    "neoTaskSharingEnabled",
    "nlpSearchEnabled",
    "pangeaAccountsScanPageEnabled",
    "policyIssueManagementEnabled",
    "policyManagementV2Enabled",
    "propertySearchUIEnabled",
    "resourceExportEnabled",
    "resourceSearchEnabled",
    "restoreStacksEnabled",
    "scimEnabled",
    "selfHostedDeploymentsEnabled",
    "selfServeIDPRemoval",
    "serviceBackedConfigEnabled",
    "themingEnabled",
    "webhooksEnabled",

};

static json_t *features_json(void) {
  json_t *features = json_object();
  for (size_t i = 0; i < sizeof absent_features / sizeof absent_features[0]; i++)
    json_object_set_new(features, absent_features[i], json_false());
  json_object_set_new(features, "auditLogsEnabled", json_true());
  json_object_set_new(features, "accessTokenExpiryPolicyEnabled", json_true());
  return features;
}

static void reply_metadata(struct request *req, const struct org_access *access) {
  struct store *store = req->app->store;
  int64_t members = 0;
  int rc = store->ops->org_member_count(store, access->org.id, &members);
  if (rc) {
    reply_failure(req, rc, "");
    return;
  }
  char created[RFC3339_LEN + 1], id[24];
  time_format_rfc3339(access->org.created, created);
  snprintf(id, sizeof id, "%lld", (long long)access->org.id);
  json_t *meta = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:o}",
                           "id", id, "kind", "pulumi", "created", created, "memberCount",
                           (json_int_t)members, "accountCount", (json_int_t)0, "environmentCount",
                           (json_int_t)0, "aiEnablement", "disabled", "stackCount", (json_int_t)0,
                           "userRole", access->admin ? "admin" : "member",
                           "defaultEnvironmentPermission", "none", "neoApprovalMode", "manual",
                           "neoTaskSharingMode", "none", "features", features_json());
  static const char *const off[] = {"insightsTrialUsingPolicy",
                                    "membersCanCreateAccounts",
                                    "membersCanCreateStacks",
                                    "membersCanCreateTeams",
                                    "membersCanDeleteStacks",
                                    "membersCanTransferStacks",
                                    "naturalLanguageSearchDisabled",
                                    "neoAgentDisabled",
                                    "neoCLIExplanationsDisabled",
                                    "neoEnabled",
                                    "webhooksEnabled"};
  for (size_t i = 0; meta && i < sizeof off / sizeof off[0]; i++)
    json_object_set_new(meta, off[i], json_false());
  if (meta) {
    json_object_set_new(meta, "auditLogsEnabled", json_true());
    json_object_set_new(meta, "defaultAccountPermission", json_integer(0));
    json_object_set_new(meta, "defaultStackPermission", json_integer(0));
    json_object_set_new(meta, "preferredVCS", json_string("none"));
    if (access->org.max_token_expiry_days)
      json_object_set_new(meta, "maxAccessTokenExpiryDays",
                          json_integer(access->org.max_token_expiry_days));
  }
  reply_json(req, 200, meta);
}

void api_org_metadata(struct request *req) {
  struct org_access access;
  if (org_access_check(req, false, &access))
    reply_metadata(req, &access);
}

/* setMaxAccessTokenExpiryDays: absent leaves the policy; 0 clears it; 1-3650 days sets it. null
 * is refused: the spec says to leave the field out for no change. */
static bool read_policy(struct request *req, json_t *body, int *days) {
  int64_t v = -1;
  if (!request_integer_field(req, body, "setMaxAccessTokenExpiryDays", 0, EXPIRY_POLICY_DAYS_MAX,
                             &v))
    return false;
  *days = (int)v;
  return true;
}

void api_org_settings_update(struct request *req) {
  static const char *const fields[] = {"setMaxAccessTokenExpiryDays", NULL};
  struct org_access access;
  if (!org_access_check(req, true, &access))
    return;
  json_t *body = request_json_object(req);
  if (!body)
    return;
  int days = -1;
  bool ok = request_fields_allowed(req, body, fields) && read_policy(req, body, &days);
  json_decref(body);
  if (!ok)
    return;
  if (days < 0) {
    reply_metadata(req, &access);
    return;
  }
  if (!org_access_may_change_access(req, &access))
    return;
  struct audit_record a;
  if (days)
    audit_event(&a, req, access.org.name, "organization-settings-changed", true,
                "set the maximum access token lifetime of %s to %d days (was %d; 0 = none)",
                access.org.name, days, access.org.max_token_expiry_days);
  else
    audit_event(&a, req, access.org.name, "organization-settings-changed", true,
                "cleared the maximum access token lifetime of %s (was %d days)", access.org.name,
                access.org.max_token_expiry_days);
  struct store *store = req->app->store;
  struct store_actor actor = org_actor_changing_access(req, ACTOR_ORG_ADMIN);
  int rc = store->ops->org_set_expiry_policy(store, &actor, access.org.id, days, &a);
  if (rc == TE_FORBIDDEN) {
    org_access_refuse(req, &access, "the admin role in organization");
    return;
  }
  if (rc) {
    reply_failure(req, rc, "");
    return;
  }
  access.org.max_token_expiry_days = days;
  reply_metadata(req, &access);
}
