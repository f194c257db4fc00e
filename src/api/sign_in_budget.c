#include "api/sign_in_budget.h"

#include "api/budget_table.h"
#include "core/timeutil.h"

#include <ctype.h>
#include <string.h>

static struct budget_table clients = BUDGET_TABLE_INIT;
static struct budget_table accounts = BUDGET_TABLE_INIT;

/* Logins are compared without case, as the store does. */
static void account_key(const char *login, char out[BUDGET_KEY_MAX]) {
  size_t i = 0;
  for (; login[i] && i + 1 < BUDGET_KEY_MAX; i++)
    out[i] = (char)tolower((unsigned char)login[i]);
  out[i] = '\0';
}

int64_t sign_in_client_wait_ms(const char *client) {
  char key[BUDGET_KEY_MAX];
  budget_client_key(client, key);
  return budget_window_wait_ms(&clients, key, CLIENT_FAILURES, CLIENT_WINDOW_S * 1000,
                               time_monotonic_ms());
}

int64_t sign_in_account_wait_ms(const char *login) {
  char key[BUDGET_KEY_MAX];
  account_key(login, key);
  int64_t now = time_monotonic_ms();
  pthread_mutex_lock(&accounts.lock);
  struct budget_entry *e = budget_find(&accounts, key, false);
  int64_t wait = e && e->blocked_until_ms > now ? e->blocked_until_ms - now : 0;
  pthread_mutex_unlock(&accounts.lock);
  return wait;
}

static void count_account_failure(const char *login, int64_t now) {
  char key[BUDGET_KEY_MAX];
  account_key(login, key);
  pthread_mutex_lock(&accounts.lock);
  struct budget_entry *e = budget_find(&accounts, key, true);
  if (e->last_ms && now - e->last_ms >= ACCOUNT_FORGET_S * 1000)
    e->count = 0;
  e->count++;
  e->last_ms = now;
  int over = e->count - ACCOUNT_FREE_FAILURES;
  if (over > 0) {
    int64_t delay_s = over > 5 ? ACCOUNT_MAX_DELAY_S : (int64_t)1 << (over - 1);
    e->blocked_until_ms =
        now + (delay_s < ACCOUNT_MAX_DELAY_S ? delay_s : ACCOUNT_MAX_DELAY_S) * 1000;
  }
  pthread_mutex_unlock(&accounts.lock);
}

void sign_in_failed(const char *client, const char *login) {
  int64_t now = time_monotonic_ms();
  char key[BUDGET_KEY_MAX];
  budget_client_key(client, key);
  budget_window_spend(&clients, key, CLIENT_WINDOW_S * 1000, now);
  if (login && *login)
    count_account_failure(login, now);
}

void sign_in_succeeded(const char *login) {
  char key[BUDGET_KEY_MAX];
  account_key(login, key);
  pthread_mutex_lock(&accounts.lock);
  struct budget_entry *e = budget_find(&accounts, key, false);
  if (e)
    memset(e, 0, sizeof *e);
  pthread_mutex_unlock(&accounts.lock);
}
