#ifndef TESSERA_AUDIT_RECORD_H
#define TESSERA_AUDIT_RECORD_H

#include "core/limits.h"
#include "core/token.h"

#include <stdbool.h>
#include <stdint.h>

#define AUDIT_EVENT_MAX 64
#define AUDIT_DESCRIPTION_MAX 512
#define AUDIT_TOKEN_NAME_MAX 64

/* One audit-log event (Pulumi's AuditLogEvent fields). Records are appended in the same
 * transaction as the change they describe, each carrying an HMAC-SHA-256 chain value over the
 * previous one, so that a record that cannot be written fails its change (fail-closed) and an
 * edited, removed or reordered record is detected when the chain is verified (audit/chain.h). */
struct audit_record {
  int64_t timestamp;
  char org[LOGIN_MAX + 1]; /* "" when the event concerns no organization */
  char source_ip[48];
  char event[AUDIT_EVENT_MAX + 1]; /* Pulumi's kebab-case id, e.g. "organization-token-created" */
  char description[AUDIT_DESCRIPTION_MAX + 1];
  char user[ACTOR_MAX + 1]; /* a login, or "org/token-name" for a machine token */
  char token_id[TOKEN_ID_LEN + 1];
  char token_name[AUDIT_TOKEN_NAME_MAX + 1];
  bool req_org_admin;
  bool auth_failure;
};

#endif
