/* The pages of the Pulumi CLI's browser login. `pulumi login <url>` without a token, with
 * PULUMI_CONSOLE_DOMAIN naming this server, opens /cli-login?cliSessionPort=…&cliSessionNonce=…
 * &cliSessionDescription=…; the console (web/clilogin.js) asks the signed-in person to confirm,
 * creates a personal token and sends the browser to the CLI on http://localhost:PORT/, which sends
 * it on to /welcome/cli. The query is checked here, before any page is shown, so that a link with
 * a bad port or nonce gets an error page instead of a confirmation. */

#include "api/api.h"

#include "api/web_assets.h"
#include "core/cli_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The error page: fixed sentences only, nothing from the request, so nothing to escape. */
static void reply_error_page(struct request *req, const char *why) {
  static const char page[] =
      "<!doctype html>\n<html lang=\"en\">\n<head>\n  <meta charset=\"utf-8\">\n"
      "  <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "  <title>CLI sign-in link not valid · Tessera</title>\n"
      "  <link rel=\"icon\" href=\"/console/logo.svg\" type=\"image/svg+xml\">\n"
      "  <link rel=\"stylesheet\" href=\"/console/style.css\">\n</head>\n<body>\n"
      "  <main class=\"signin cli-login\" id=\"main\"><div class=\"signin-card\">\n"
      "    <h1>This CLI sign-in link is not valid</h1>\n    <p>%s</p>\n"
      "    <p>Run <code>pulumi login</code> again and use the link it opens. No token was "
      "created.</p>\n    <p><a href=\"/\">Go to the Tessera console</a></p>\n  </div></main>\n"
      "</body>\n</html>\n";
  int len = snprintf(NULL, 0, page, why);
  char *body = malloc((size_t)len + 1);
  if (!body)
    abort();
  snprintf(body, (size_t)len + 1, page, why);
  reply_bytes(req, 400, body, (size_t)len, "text/html; charset=utf-8", NULL);
}

void api_cli_login_page(struct request *req) {
  /* The page reads the query again (URLSearchParams: exact names, first of several): what is
   * checked here must be what it reads, so each parameter must be there once, spelled so. */
  static const char *const names[] = {"cliSessionPort", "cliSessionNonce", "cliSessionDescription"};
  const char *values[3];
  for (int i = 0; i < 3; i++)
    if (!request_query_single(req, names[i], &values[i])) {
      reply_error_page(req, "each of cliSessionPort, cliSessionNonce and cliSessionDescription "
                            "may be given once, spelled so.");
      return;
    }
  const char *why;
  if (!cli_session_valid(values[0], values[1], values[2], &why)) {
    reply_error_page(req, why);
    return;
  }
  console_serve_asset(req, "index.html");
}

void api_cli_welcome_page(struct request *req) {
  console_serve_asset(req, "index.html");
}
