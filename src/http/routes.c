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
    {NULL, NULL, NULL, false},
};
