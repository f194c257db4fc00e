#ifndef TESSERA_STORE_SQLITE_CHECKPOINT_H
#define TESSERA_STORE_SQLITE_CHECKPOINT_H

#include <sqlite3.h>

/* Moves the write-ahead log into the database file on a thread of its own, so that a commit
 * never waits for it. SQLite's default runs a checkpoint inside the commit that takes the log
 * past 1000 pages: that commit, and every request queued behind the writer, then waited for the
 * copy and the database file's fsync (creations' p99 250-650 ms at a million tokens). */
struct sqlite_checkpointer;

/* Opens a connection of its own to path and takes over writer's checkpoints (writer must outlive
 * the checkpointer, and commit only on the thread that runs its hooks). */
int sqlite_checkpointer_start(const char *path, sqlite3 *writer, struct sqlite_checkpointer **out);

/* Stops the thread and closes its connection (NULL: nothing), and gives the writer SQLite's
 * automatic checkpoint back; the last connection to close checkpoints what is left. */
void sqlite_checkpointer_stop(struct sqlite_checkpointer *cp);

/* Checkpoints the thread completed, and times the writer's log started from its beginning
 * again, for tests. */
unsigned long sqlite_checkpointer_runs(struct sqlite_checkpointer *cp);
unsigned long sqlite_checkpointer_restarts(struct sqlite_checkpointer *cp);

#endif
