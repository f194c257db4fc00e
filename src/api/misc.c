#include "api/api.h"

void api_healthz(struct request *req) {
  reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/* None of Pulumi's advertised capabilities (checkpoint deltas, batch encryption, Copilot…) concern
 * a token service, so the honest answer is an empty list: clients then use their plain code paths.
 */
void api_capabilities(struct request *req) {
  reply_json(req, 200, json_pack("{s:[]}", "capabilities"));
}
