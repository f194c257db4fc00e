#include "api/audit_event.h"

#include "core/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void ignore_result(void *arg, int result) {
  (void)arg;
  (void)result;
}

void audit_event_queue(struct store *store, const struct audit_record *a) {
  store->ops->audit_append(store, a, ignore_result, NULL);
}

void audit_event(struct audit_record *a, struct request *req, const char *org, const char *event,
                 bool req_org_admin, const char *description_fmt, ...) {
  memset(a, 0, sizeof *a);
  a->timestamp = time_now();
  a->req_org_admin = req_org_admin;
  snprintf(a->org, sizeof a->org, "%s", org);
  snprintf(a->event, sizeof a->event, "%s", event);
  request_client_ip(req, a->source_ip, sizeof a->source_ip);
  if (req->authenticated) {
    snprintf(a->user, sizeof a->user, "%s", req->principal.actor);
    snprintf(a->token_id, sizeof a->token_id, "%s", req->principal.token.id);
    snprintf(a->token_name, sizeof a->token_name, "%s", req->principal.token.name);
  }
  va_list ap;
  va_start(ap, description_fmt);
  vsnprintf(a->description, sizeof a->description, description_fmt, ap);
  va_end(ap);
  /* An exchange-issued token acts for a CI job: the record says which trust relationship let it. */
  const struct store_principal *p = &req->principal;
  if (req->authenticated && p->token.oidc_issuer[0]) {
    size_t used = strlen(a->description);
    snprintf(a->description + used, sizeof a->description - used,
             " (with token %s, issued by OIDC issuer %s, id %s)", p->token.id, p->issuer_name,
             p->token.oidc_issuer);
  }
}
