#ifndef TESSERA_CORE_LIMITS_H
#define TESSERA_CORE_LIMITS_H

/* Bounds on every input. Kept in one place so the API, the store and the admin commands agree. */
#define LOGIN_MAX 64         /* user logins and organization names */
#define USER_NAME_MAX 256    /* display names, bytes */
#define EMAIL_MAX 254        /* RFC 5321 path limit */
#define DESCRIPTION_MAX 1024 /* token descriptions, bytes */
#define REASON_MAX 256       /* ?reason= on token creation, bytes */
#define TOKEN_NAME_MAX 40    /* organization and team token names: [A-Za-z0-9_-] */
#define ACTOR_MAX (LOGIN_MAX + 1 + TOKEN_NAME_MAX) /* "org/token-name": who a machine token is */
#define EXPIRY_POLICY_DAYS_MAX 3650 /* an organization's cap on token lifetimes, days */
#define BODY_MAX (64 * 1024)        /* request bodies */
#define HEADERS_MAX (8 * 1024)      /* all request header lines together */
#define URL_MAX 4096                /* path and query */
#define JSON_DEPTH_MAX 16           /* nesting of request JSON */
#define PAGE_DEFAULT 100            /* list pages */
#define PAGE_MAX 1000
#define CONTINUATION_MAX 64                /* continuation token text */
#define TOKEN_LIFETIME_MAX (731LL * 86400) /* two years, counting one leap day */
#define EXPIRY_WARNING_SECONDS (7LL * 86400)
/* Leak reports (POST /api/tokens/leaks): values per report, each one's fields in bytes, and
 * reports a client may post a minute. */
#define LEAK_VALUES_MAX 100
#define LEAK_TOKEN_MAX 512
#define LEAK_URL_MAX 2048
#define LEAK_LABEL_MAX 64 /* type and source */
#define LEAK_REPORTS_PER_MINUTE 60

#endif
