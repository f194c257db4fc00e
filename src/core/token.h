#ifndef TESSERA_CORE_TOKEN_H
#define TESSERA_CORE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* Access token values: "pul-" + 32 hex of CSPRNG output + CRC-32 (%08x) of the first 36 characters.
 * They match Pulumi's pul-[a-f0-9]{40}, and the checksum lets us reject look-alikes before a
 * lookup. */
#define TOKEN_PREFIX "pul-"
#define TOKEN_PREFIX_LEN 4
#define TOKEN_RANDOM_HEX 32
#define TOKEN_VALUE_LEN (TOKEN_PREFIX_LEN + TOKEN_RANDOM_HEX + 8)
#define TOKEN_HASH_LEN 32 /* SHA-256 */
#define TOKEN_ID_LEN 36   /* UUID text form */

/* Fills `value` (TOKEN_VALUE_LEN + 1 bytes) with a fresh token. Aborts if the CSPRNG fails. */
void token_generate(char value[TOKEN_VALUE_LEN + 1]);

/* True when `value` (of length `len`) has the exact shape and a matching checksum. */
bool token_is_well_formed(const char *value, size_t len);

/* SHA-256 of the token value: the only form in which a token is ever stored. */
void token_hash(const char *value, size_t len, unsigned char hash[TOKEN_HASH_LEN]);

/* bytes as lowercase hex into out (2 * n + 1 bytes): for hashes and random values in text. */
void token_hex(const unsigned char *bytes, size_t n, char *out);

/* token_hash's digest of value, in hex: how a hash is shown (a leak report's answer, a CSRF
 * token). */
void token_hash_hex(const char *value, size_t len, char out[2 * TOKEN_HASH_LEN + 1]);

/* Copies text into out (size bytes), replacing with "[redacted]" the hex after every "pul-" that
 * is followed by 16 or more hex digits (a token, or something close to one), and every run of hex
 * digits that holds a token's 40 without the prefix (its checksum holds): for logs and error
 * messages that echo what a client sent. Returns out. */
char *token_redact(const char *text, char *out, size_t size);

/* A fresh UUIDv4 in lowercase text form (TOKEN_ID_LEN + 1 bytes). */
void token_new_id(char id[TOKEN_ID_LEN + 1]);

/* True for a lowercase or uppercase UUID in canonical 8-4-4-4-12 text form. */
bool token_id_is_valid(const char *id);

#endif
