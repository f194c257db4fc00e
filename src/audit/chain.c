#include "audit/chain.h"

#include "core/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_MAX 2048 /* the encoding of a record; its fields are bounded (audit/record.h) */
#define KEY_ID_LABEL "tessera-audit-key-id"

struct encoding {
  unsigned char data[RECORD_MAX];
  size_t len;
};

static void put_bytes(struct encoding *e, const void *bytes, size_t n) {
  if (e->len + n > sizeof e->data)
    abort(); /* unreachable: every field is bounded well below RECORD_MAX */
  memcpy(e->data + e->len, bytes, n);
  e->len += n;
}

static void put_u64(struct encoding *e, uint64_t v) {
  unsigned char b[8];
  for (int i = 7; i >= 0; i--, v >>= 8)
    b[i] = (unsigned char)(v & 0xff);
  put_bytes(e, b, sizeof b);
}

/* Length-prefixed, so that no two different records encode alike. */
static void put_text(struct encoding *e, const char *text) {
  size_t n = strlen(text);
  put_u64(e, n);
  put_bytes(e, text, n);
}

static void hmac(const unsigned char key[AUDIT_KEY_LEN], const void *data, size_t len,
                 unsigned char out[32]) {
  size_t out_len = 0;
  if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, AUDIT_KEY_LEN, data, len, out, 32,
                 &out_len) ||
      out_len != 32)
    abort();
}

void audit_chain_value(const unsigned char key[AUDIT_KEY_LEN],
                       const unsigned char prev[AUDIT_CHAIN_LEN], int64_t seq,
                       const struct audit_record *a, unsigned char out[AUDIT_CHAIN_LEN]) {
  struct encoding e = {.len = 0};
  put_bytes(&e, prev, AUDIT_CHAIN_LEN);
  put_u64(&e, (uint64_t)seq);
  put_u64(&e, (uint64_t)a->timestamp);
  put_text(&e, a->org);
  put_text(&e, a->source_ip);
  put_text(&e, a->event);
  put_text(&e, a->description);
  put_text(&e, a->user);
  put_text(&e, a->token_id);
  put_text(&e, a->token_name);
  put_u64(&e, a->req_org_admin);
  put_u64(&e, a->auth_failure);
  hmac(key, e.data, e.len, out);
}

void audit_key_id(const unsigned char key[AUDIT_KEY_LEN], unsigned char id[32]) {
  hmac(key, KEY_ID_LABEL, strlen(KEY_ID_LABEL), id);
}

void audit_verify_begin(struct audit_verifier *v, const unsigned char key[AUDIT_KEY_LEN],
                        int64_t head_seq, const unsigned char head[AUDIT_CHAIN_LEN]) {
  memset(v, 0, sizeof *v);
  memcpy(v->key, key, AUDIT_KEY_LEN);
  v->head_seq = head_seq;
  memcpy(v->head, head, AUDIT_CHAIN_LEN);
}

/* Event names go into a terminal: only printable ASCII is shown. */
static const char *printable(const char *text, char *out, size_t size) {
  size_t o = 0;
  for (; *text && o + 1 < size; text++)
    out[o++] = *text >= 0x20 && *text < 0x7f ? *text : '?';
  out[o] = '\0';
  return out;
}

int audit_verify_next(struct audit_verifier *v, bool readable, int64_t seq,
                      const struct audit_record *a, const unsigned char stored[AUDIT_CHAIN_LEN],
                      char *report, size_t report_size) {
  int64_t expected_seq = v->count + 1;
  if (!readable) {
    snprintf(report, report_size,
             "audit record %lld holds values of the wrong type or size: altered",
             (long long)expected_seq);
    return TE_CONFLICT;
  }
  if (seq > expected_seq) {
    snprintf(report, report_size,
             "audit record %lld is missing (the log jumps from %lld to %lld): removed",
             (long long)expected_seq, (long long)expected_seq - 1, (long long)seq);
    return TE_CONFLICT;
  }
  if (seq < expected_seq) {
    snprintf(report, report_size,
             "an audit record numbered %lld stands where record %lld was expected: inserted or "
             "renumbered",
             (long long)seq, (long long)expected_seq);
    return TE_CONFLICT;
  }
  unsigned char expected[AUDIT_CHAIN_LEN];
  audit_chain_value(v->key, v->prev, seq, a, expected);
  if (CRYPTO_memcmp(expected, stored, AUDIT_CHAIN_LEN) != 0) {
    char shown[AUDIT_EVENT_MAX + 1];
    snprintf(report, report_size,
             "audit record %lld (%s at %lld) does not match its chain value: altered, or "
             "moved from elsewhere in the log",
             (long long)seq, printable(a->event, shown, sizeof shown), (long long)a->timestamp);
    return TE_CONFLICT;
  }
  memcpy(v->prev, stored, AUDIT_CHAIN_LEN);
  if (seq == v->head_seq)
    memcpy(v->at_head, stored, AUDIT_CHAIN_LEN);
  v->count++;
  return TE_OK;
}

int audit_verify_end(struct audit_verifier *v, char *report, size_t report_size) {
  int rc = TE_OK;
  if (v->head_seq > v->count) {
    snprintf(report, report_size,
             "the log ends at record %lld but had reached record %lld: records removed from the "
             "end",
             (long long)v->count, (long long)v->head_seq);
    rc = TE_CONFLICT;
  } else if (v->head_seq > 0 && CRYPTO_memcmp(v->at_head, v->head, AUDIT_CHAIN_LEN) != 0) {
    snprintf(report, report_size,
             "audit record %lld differs from the one the head file recorded: the log was "
             "rewritten",
             (long long)v->head_seq);
    rc = TE_CONFLICT;
  }
  OPENSSL_cleanse(v->key, sizeof v->key);
  return rc;
}
