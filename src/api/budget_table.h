#ifndef TESSERA_API_BUDGET_TABLE_H
#define TESSERA_API_BUDGET_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* In-memory tables of what clients (or accounts) have spent, for the budgets that bound them
 * (sign_in_budget.c, token_leaks.c). Entries are found through a hash keyed at random per process,
 * so nobody can aim collisions at another's entry; a full table gives way where the stalest entry
 * was, so the table's size is fixed whatever the number of clients. */

#define BUDGET_SLOTS 4096
#define BUDGET_KEY_MAX 72

struct budget_entry {
  char key[BUDGET_KEY_MAX];
  int64_t window_start_ms; /* the window being counted */
  int64_t last_ms;         /* the entry's last use: the stalest gives way */
  int64_t blocked_until_ms;
  int count;
};

struct budget_table {
  pthread_mutex_t lock;
  struct budget_entry slots[BUDGET_SLOTS];
};

#define BUDGET_TABLE_INIT                                                                          \
  { .lock = PTHREAD_MUTEX_INITIALIZER }

/* Caller holds t->lock. The entry for key; with create, a new one in place of the stalest of its
 * probe run when there is none. NULL when absent and not created. */
struct budget_entry *budget_find(struct budget_table *t, const char *key, bool create);

/* A client's key: its IPv4 address (also when written IPv4-mapped, ::ffff:a.b.c.d), or its IPv6
 * /64 (one host can have a whole /64). */
void budget_client_key(const char *ip, char out[BUDGET_KEY_MAX]);

/* Fixed windows of window_ms: milliseconds before key may spend again (0: now) once it has spent
 * limit in the current window. */
int64_t budget_window_wait_ms(struct budget_table *t, const char *key, int limit, int64_t window_ms,
                              int64_t now_ms);

/* Spends one from key's current window (a new window when the last one is over). */
void budget_window_spend(struct budget_table *t, const char *key, int64_t window_ms,
                         int64_t now_ms);

/* Both at once: spends one and returns 0 when the window has room, else the wait (nothing spent).
 */
int64_t budget_window_take(struct budget_table *t, const char *key, int limit, int64_t window_ms,
                           int64_t now_ms);

#endif
