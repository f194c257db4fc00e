#ifndef TESSERA_API_API_H
#define TESSERA_API_API_H

#include "http/request.h"

/* One handler per operation; Pulumi's operationId in the comment. */

void api_healthz(struct request *req);
void api_capabilities(struct request *req);          /* Capabilities */
void api_user_get(struct request *req);              /* GetCurrentUser */
void api_user_default_org(struct request *req);      /* GetDefaultOrganization */
void api_personal_token_create(struct request *req); /* CreatePersonalToken */
void api_personal_token_list(struct request *req);   /* ListPersonalTokens */
void api_personal_token_delete(struct request *req); /* DeletePersonalToken */

#endif
