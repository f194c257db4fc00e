#ifndef TESSERA_API_AUDIT_EVENT_H
#define TESSERA_API_AUDIT_EVENT_H

#include "http/request.h"

#include <stdbool.h>

/* Fills an audit record for a change made by this request: when, from where, by whom and with
 * which token; event is one of Pulumi's ids ("member-added", ...), org the organization's name. */
void audit_event(struct audit_record *a, struct request *req, const char *org, const char *event,
                 bool req_org_admin, const char *description_fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Appends a record of a refusal without waiting for it: it shares the next group commit, so a
 * burst of refused requests cannot tie up worker threads with a disk flush each. The refusal
 * stands whatever happens to the record. */
void audit_event_queue(struct store *store, const struct audit_record *a);

#endif
