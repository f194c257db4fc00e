#ifndef TESSERA_AUDIT_FILES_H
#define TESSERA_AUDIT_FILES_H

#include "audit/chain.h"

#include <stddef.h>
#include <stdint.h>

/* The audit log's two files outside the database, private to their owner (mode 0600):
 *   the key  - AUDIT_KEY_LEN random bytes; whoever can write the database alone cannot forge
 *              the chain without it;
 *   the head - the last record the log is known to have reached (seq, big-endian, and its chain
 *              value), written after each commit, so that records removed from the end are found.
 * Both are replaced atomically (a complete temporary file, then link or rename, then fsync of
 * the directory), so a crash never leaves half of one. */

/* "<real path of db_path>.audit-key" and ".audit-head": beside the database's real path, so that
 * two paths to one database (a symlink, a bind mount) cannot end up with two keys. */
int audit_files_paths(const char *db_path, char *key_path, size_t key_size, char *head_path,
                      size_t head_size);

/* Reads the key. TE_NOT_FOUND when there is none: with `create`, one is made then (and a process
 * that loses the race to make it reads the winner's). TE_FORBIDDEN when others may read it. */
int audit_key_load(const char *key_path, bool create, unsigned char key[AUDIT_KEY_LEN]);

/* Makes the key file hold `key`: writes it when there is none (as audit_key_load makes one);
 * TE_CONFLICT when the file holds another key. For moving a log to another store. */
int audit_key_install(const char *key_path, const unsigned char key[AUDIT_KEY_LEN]);

/* Reads the head: seq 0 and zeros when there is none yet (no audited change committed). */
int audit_head_read(const char *head_path, int64_t *seq, unsigned char chain[AUDIT_CHAIN_LEN]);

/* Records that the log has reached record seq. Only forward: another process may have committed
 * later records and recorded them already. */
int audit_head_advance(const char *head_path, int64_t seq,
                       const unsigned char chain[AUDIT_CHAIN_LEN]);

/* A process killed between writing a temporary file and its rename or link leaves
 * "<file>.tmp.<pid>" behind (the head's after one crash in four under load; the key's would hold
 * a copy of the key). Removes those of processes that no longer exist: a live one's, ours
 * included, may be in use. */
void audit_files_remove_stale(const char *path);

#endif
