#ifndef TESSERA_STORE_LASTUSED_H
#define TESSERA_STORE_LASTUSED_H

#include "store/store.h"

#include <stdint.h>

/* Coalesces "this token was just used" so that authenticating never writes: a token's lastUsed is
 * written at most once per interval, by a background thread, and once more at shutdown. The
 * throttle is the stored value each use is noted with: the caching store records every write in
 * its entry (store/cache.c), so a use after a write sees it; the table itself holds only the uses
 * not written yet, about a tick's worth, and then forgets them. */
struct lastused;

/* Pending uses are written every tick_ms milliseconds (the server uses LASTUSED_TICK_MS). */
#define LASTUSED_TICK_MS 1000
int lastused_start(struct store *store, int64_t interval_seconds, int tick_ms,
                   struct lastused **out);

/* Records a use at `now` of the token `seq` whose stored lastUsed is `stored`. Lock-free when the
 * stored value is recent enough, which is the common case. */
void lastused_note(struct lastused *lu, int64_t seq, int64_t stored, int64_t now);

/* The lastUsed to show for a token: the stored value or a newer one not yet written. */
int64_t lastused_effective(struct lastused *lu, int64_t seq, int64_t stored);

/* Writes every pending use now. Returns 0 or the store's error (pending uses are kept). */
int lastused_flush(struct lastused *lu);

/* Stops the background thread and writes what is pending. */
void lastused_stop(struct lastused *lu);

#endif
