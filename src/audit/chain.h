#ifndef TESSERA_AUDIT_CHAIN_H
#define TESSERA_AUDIT_CHAIN_H

#include "audit/record.h"

#include <stddef.h>
#include <stdint.h>

/* The audit log's tamper evidence, for any store. Each record's chain value is
 *   HMAC-SHA-256(key, previous chain value || canonical encoding of this record, seq included)
 * with 32 zero bytes before the first record. Editing a record breaks its own value; removing one
 * leaves a gap in seq and breaks the next value; moving one breaks both. The key is a server secret
 * kept outside the database, so whoever can write the database alone cannot forge the chain.
 *
 * A store computes the value of each record it appends, inside the transaction that appends it
 * (only that transaction sees the previous value), and stores it with the record; verifying
 * walks the records in order and recomputes them. */

#define AUDIT_KEY_LEN 32
#define AUDIT_CHAIN_LEN 32

/* The chain value of record `seq` after the one whose value is `prev`. */
void audit_chain_value(const unsigned char key[AUDIT_KEY_LEN],
                       const unsigned char prev[AUDIT_CHAIN_LEN], int64_t seq,
                       const struct audit_record *a, unsigned char out[AUDIT_CHAIN_LEN]);

/* What a database records of its key: an HMAC of a fixed label, so that a store can tell its
 * own key from another without holding it. */
void audit_key_id(const unsigned char key[AUDIT_KEY_LEN], unsigned char id[32]);

/* Walks a log record by record, in seq order. */
struct audit_verifier {
  unsigned char key[AUDIT_KEY_LEN];
  int64_t head_seq;                       /* the last record the log is known to have reached */
  unsigned char head[AUDIT_CHAIN_LEN];    /* its chain value, from the head file */
  unsigned char prev[AUDIT_CHAIN_LEN];    /* the value of the last record seen */
  unsigned char at_head[AUDIT_CHAIN_LEN]; /* the stored value of record head_seq, once seen */
  int64_t count;                          /* records verified so far */
};

void audit_verify_begin(struct audit_verifier *v, const unsigned char key[AUDIT_KEY_LEN],
                        int64_t head_seq, const unsigned char head[AUDIT_CHAIN_LEN]);

/* The next record as the store read it: readable is false when a stored value was of the wrong
 * type or size (which the chain could not vouch for byte for byte). TE_OK, or TE_CONFLICT with a
 * sentence in report naming the record and what was done to it. */
int audit_verify_next(struct audit_verifier *v, bool readable, int64_t seq,
                      const struct audit_record *a, const unsigned char stored[AUDIT_CHAIN_LEN],
                      char *report, size_t report_size);

/* After the last record: TE_OK, or TE_CONFLICT when records were removed from the end or the
 * log was rewritten up to the head. Wipes the key (a walk that stops early wipes the verifier
 * itself, OPENSSL_cleanse). */
int audit_verify_end(struct audit_verifier *v, char *report, size_t report_size);

#endif
