#include "core/cli_session.h"

#include "core/limits.h"
#include "core/names.h"

#include <string.h>

static bool port_valid(const char *port) {
  size_t len = port ? strlen(port) : 0;
  if (len == 0 || len > 5 || port[0] == '0')
    return false;
  long value = 0;
  for (size_t i = 0; i < len; i++) {
    if (port[i] < '0' || port[i] > '9')
      return false;
    value = value * 10 + (port[i] - '0');
  }
  return value >= CLI_SESSION_PORT_MIN && value <= 65535;
}

/* Letters, digits, '-' and '_': what a nonce needs, and nothing that needs escaping in a URL. */
static bool nonce_valid(const char *nonce) {
  return nonce && text_is_url_word(nonce, CLI_SESSION_NONCE_MIN, CLI_SESSION_NONCE_MAX);
}

bool cli_session_valid(const char *port, const char *nonce, const char *description,
                       const char **why) {
  if (!port_valid(port)) {
    *why = "cliSessionPort must be the port of the CLI waiting on this computer, a number from "
           "1024 to 65535.";
    return false;
  }
  if (!nonce_valid(nonce)) {
    *why = "cliSessionNonce must be the CLI's nonce: 16 to 256 letters, digits, '-' or '_'.";
    return false;
  }
  if (description && (strlen(description) > DESCRIPTION_MAX || !text_is_utf8(description) ||
                      !text_is_printable(description))) {
    *why = "cliSessionDescription must be at most 1024 bytes of text, without control characters.";
    return false;
  }
  *why = NULL;
  return true;
}
