/* The audit log's chain and its verification (store/sql_audit.c, store/sql_writer.c), on both
 * stores. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "store/store.h"
#include "store_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
  char dir[64];
  char path[96];
  struct store *store;
  int64_t user_id;
};

static struct audit_record event(const char *name, const char *description) {
  struct audit_record a = {.timestamp = time_now(), .req_org_admin = true};
  snprintf(a.org, sizeof a.org, "acme");
  snprintf(a.source_ip, sizeof a.source_ip, "127.0.0.1");
  snprintf(a.event, sizeof a.event, "%s", name);
  snprintf(a.description, sizeof a.description, "%s", description);
  snprintf(a.user, sizeof a.user, "alice");
  return a;
}

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  temp_db_make(f->dir, f->path, "audit");
  assert_int_equal(fixture_open(f->path, 1, &f->store), TE_OK);
  struct store_user u = {0}, out;
  snprintf(u.login, sizeof u.login, "alice");
  assert_int_equal(f->store->ops->user_create(f->store, &u, &out), TE_OK);
  f->user_id = out.id;
  for (int i = 0; i < 5; i++) {
    char d[32];
    snprintf(d, sizeof d, "event %d", i + 1);
    struct audit_record a = event("organization-settings-changed", d);
    assert_int_equal(f->store->ops->audit_append(f->store, &a, NULL, NULL), TE_OK);
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  if (f->store)
    f->store->ops->close(f->store);
  temp_db_remove(f->dir);
  free(f);
  return 0;
}

/* Runs SQL on the database behind the store's back, as someone tampering with it would. */
static void tamper(struct fixture *f, const char *sql) {
  fixture_sql(f->path, sql);
}

static int verify(struct fixture *f, int64_t *count, char *report, size_t size) {
  return fixture_verify(f->path, count, report, size);
}

static void an_untouched_log_verifies(void **state) {
  struct fixture *f = *state;
  int64_t n = -1;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_OK);
  assert_int_equal(n, 5);
}

static void an_edited_record_is_named(void **state) {
  struct fixture *f = *state;
  tamper(f, "UPDATE audit SET description = 'nothing to see' WHERE seq = 3");
  int64_t n;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "record 3"));
  assert_non_null(strstr(report, "altered"));
  assert_int_equal(n, 2);
}

static void an_edited_flag_is_caught(void **state) {
  struct fixture *f = *state;
  tamper(f, "UPDATE audit SET auth_failure = NOT auth_failure WHERE seq = 5");
  int64_t n;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "record 5"));
}

static void a_removed_record_is_named(void **state) {
  struct fixture *f = *state;
  tamper(f, "DELETE FROM audit WHERE seq = 2");
  int64_t n;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "record 2 is missing"));
  assert_non_null(strstr(report, "removed"));
}

static void renumbering_to_hide_a_removal_is_caught(void **state) {
  struct fixture *f = *state;
  tamper(f, "DELETE FROM audit WHERE seq = 2; UPDATE audit SET seq = seq - 1 WHERE seq > 2");
  int64_t n;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "record 2"));
}

static void swapped_records_are_caught(void **state) {
  struct fixture *f = *state;
  /* Exchange records 2 and 4 wholesale, chain values included. */
  tamper(f, "UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 4;"
            "UPDATE audit SET seq = 4 WHERE seq = -2");
  int64_t n;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "record 2"));
}

static void a_change_and_its_record_land_together_or_not_at_all(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_token t = {.kind = TOKEN_PERSONAL, .user_id = f->user_id, .created = time_now()};
  char value[TOKEN_VALUE_LEN + 1];
  token_fill_secret(&t, value);
  /* An empty event name violates the audit table's CHECK: the token must not be stored either. */
  struct audit_record bad = event("", "unwritable");
  assert_int_not_equal(s->ops->token_insert(s, &t, &bad, NULL, NULL), TE_OK);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_NOT_FOUND);
  /* With a valid record both land, and the chain still verifies. */
  struct audit_record good = event("organization-token-created", "ci");
  assert_int_equal(s->ops->token_insert(s, &t, &good, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  int64_t n;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_OK);
  assert_int_equal(n, 6);
}

static void two_writers_share_one_chain(void **state) {
  struct fixture *f = *state;
  /* A second handle stands for `tessera admin` writing while the server runs. */
  struct store *other;
  assert_int_equal(fixture_open(f->path, 1, &other), TE_OK);
  for (int i = 0; i < 4; i++) {
    struct audit_record a = event("member-added", "interleaved");
    struct store *w = i % 2 ? other : f->store;
    assert_int_equal(w->ops->audit_append(w, &a, NULL, NULL), TE_OK);
  }
  other->ops->close(other);
  int64_t n;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_OK);
  assert_int_equal(n, 9);
}

struct appender {
  struct store *store;
  int failures;
};

static void *append_many(void *arg) {
  struct appender *a = arg;
  for (int i = 0; i < 40; i++) {
    struct audit_record r = event("member-added", "from two nodes at once");
    a->failures += a->store->ops->audit_append(a->store, &r, NULL, NULL) != TE_OK;
  }
  return NULL;
}

/* Two nodes appending at once chain one log, even where the database's default isolation is
 * REPEATABLE READ (a writer that read the tail in a snapshot from before the other's commit would
 * fork the chain or collide on seq): the writer asks for READ COMMITTED itself. */
static void nodes_append_in_turn_whatever_the_default_isolation(void **state) {
  if (!fixture_is_pg())
    skip(); /* SQLite has one writer at a time, and no isolation levels to choose */
  struct fixture *f = *state;
  char sql[160];
  snprintf(sql, sizeof sql,
           "ALTER DATABASE %s SET default_transaction_isolation = 'repeatable read'",
           strrchr(f->path, '/') + 1);
  fixture_sql(f->path, sql);
  struct appender nodes[2] = {{NULL, 0}, {NULL, 0}};
  pthread_t threads[2];
  for (int i = 0; i < 2; i++) {
    assert_int_equal(fixture_open(f->path, 1, &nodes[i].store), TE_OK);
    assert_int_equal(pthread_create(&threads[i], NULL, append_many, &nodes[i]), 0);
  }
  for (int i = 0; i < 2; i++) {
    pthread_join(threads[i], NULL);
    nodes[i].store->ops->close(nodes[i].store);
    assert_int_equal(nodes[i].failures, 0);
  }
  int64_t n;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_OK);
  assert_int_equal(n, 5 + 80);
}

static void the_key_is_private_and_required(void **state) {
  struct fixture *f = *state;
  char key[128];
  fixture_key_file(f->path, key, sizeof key);
  struct stat st;
  assert_int_equal(stat(key, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(st.st_size, 32);
  f->store->ops->close(f->store);
  f->store = NULL;
  /* Without its key a log with records cannot be extended (the chain would silently restart)... */
  assert_int_equal(unlink(key), 0);
  struct store *s;
  assert_int_not_equal(fixture_open(f->path, 1, &s), TE_OK);
  /* ...nor verified. */
  int64_t n;
  char report[256];
  assert_int_not_equal(verify(f, &n, report, sizeof report), TE_OK);
}

static void a_different_key_fails_verification(void **state) {
  struct fixture *f = *state;
  char key[128];
  fixture_key_file(f->path, key, sizeof key);
  FILE *k = fopen(key, "r+b");
  assert_non_null(k);
  unsigned char byte;
  assert_int_equal(fread(&byte, 1, 1, k), 1);
  byte ^= 0xff;
  fseek(k, 0, SEEK_SET);
  assert_int_equal(fwrite(&byte, 1, 1, k), 1);
  fclose(k);
  int64_t n;
  char report[256];
  /* Refused by the key's fingerprint in the database before any record is read. */
  assert_int_equal(verify(f, &n, report, sizeof report), TE_FORBIDDEN);
}

static void records_removed_from_the_end_are_caught(void **state) {
  struct fixture *f = *state;
  tamper(f, "DELETE FROM audit WHERE seq >= 4");
  int64_t n;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "removed from the end"));
  tamper(f, "DELETE FROM audit");
  assert_int_equal(verify(f, &n, report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "removed from the end"));
}

static void values_the_chain_cannot_vouch_for_are_caught(void **state) {
  struct fixture *f = *state;
  static const char *const sqlite_edits[] = {
      "UPDATE audit SET req_org_admin = 7 WHERE seq = 2", /* flag other than 0/1 */
      "UPDATE audit SET user_login = 'alice' || char(0) || 'x' WHERE seq = 2", /* hidden bytes */
      "UPDATE audit SET description = description || printf('%.600c', 'x') WHERE seq = 2",
  };
  /* PostgreSQL's types rule out the first two (a boolean is t or f; text holds no NUL). */
  static const char *const pg_edits[] = {
      "UPDATE audit SET description = description || repeat('x', 600) WHERE seq = 2",
  };
  const char *const *edits = fixture_is_pg() ? pg_edits : sqlite_edits;
  size_t count = fixture_is_pg() ? 1 : 3;
  for (size_t i = 0; i < count; i++) {
    struct fixture *g = f;
    if (i > 0) { /* a fresh log each time */
      teardown(state);
      setup(state);
      g = *state;
    }
    tamper(g, edits[i]);
    int64_t n;
    char report[256];
    if (verify(g, &n, report, sizeof report) != TE_CONFLICT)
      fail_msg("verify accepted: %s", edits[i]);
    assert_non_null(strstr(report, "record 2"));
  }
}

static void a_forged_extra_record_is_caught(void **state) {
  struct fixture *f = *state;
  tamper(f, "INSERT INTO audit SELECT 0, org, timestamp, source_ip, event, description, "
            "user_login, token_id, token_name, req_org_admin, auth_failure, chain FROM audit "
            "WHERE seq = 1");
  int64_t n;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "inserted or renumbered"));
}

static void a_key_others_can_read_is_refused(void **state) {
  struct fixture *f = *state;
  f->store->ops->close(f->store);
  f->store = NULL;
  char key[128];
  fixture_key_file(f->path, key, sizeof key);
  assert_int_equal(chmod(key, 0644), 0);
  struct store *s;
  assert_int_not_equal(fixture_open(f->path, 1, &s), TE_OK);
  assert_int_equal(chmod(key, 0600), 0); /* PostgreSQL's key serves the next tests too */
}

static void another_path_to_the_database_uses_the_same_key(void **state) {
  SQLITE_ONLY(); /* a file's other paths */
  struct fixture *f = *state;
  char link_path[128];
  snprintf(link_path, sizeof link_path, "%s/link.db", f->dir);
  assert_int_equal(symlink(f->path, link_path), 0);
  struct store *via_link;
  assert_int_equal(fixture_open(link_path, 1, &via_link), TE_OK);
  struct audit_record a = event("member-added", "via a symlink");
  assert_int_equal(via_link->ops->audit_append(via_link, &a, NULL, NULL), TE_OK);
  via_link->ops->close(via_link);
  int64_t n;
  char report[256];
  assert_int_equal(fixture_verify(link_path, &n, report, sizeof report), TE_OK);
  assert_int_equal(verify(f, &n, report, sizeof report), TE_OK);
  assert_int_equal(n, 6);
}

/* The pid of a process that has exited and been reaped. */
static pid_t dead_pid(void) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(0);
  assert_int_equal(waitpid(pid, NULL, 0), pid);
  return pid;
}

static void touch(const char *path) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fclose(f);
}

static void temps_left_by_a_killed_process_are_removed_at_open(void **state) {
  SQLITE_ONLY(); /* the files beside a database file */
  struct fixture *f = *state;
  f->store->ops->close(f->store);
  f->store = NULL;
  char dead_head[160], dead_key[160], live[160], mine[160], other[160];
  pid_t dead = dead_pid();
  snprintf(dead_head, sizeof dead_head, "%s.audit-head.tmp.%d", f->path, (int)dead);
  snprintf(dead_key, sizeof dead_key, "%s.audit-key.tmp.%d", f->path, (int)dead);
  snprintf(live, sizeof live, "%s.audit-head.tmp.%d", f->path, (int)getppid()); /* alive */
  snprintf(mine, sizeof mine, "%s.audit-head.tmp.%d", f->path, (int)getpid());
  snprintf(other, sizeof other, "%s.audit-head.tmp.x%d", f->path, (int)dead); /* not ours */
  const char *all[] = {dead_head, dead_key, live, mine, other};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    touch(all[i]);
  assert_int_equal(fixture_open(f->path, 1, &f->store), TE_OK);
  assert_int_equal(access(dead_head, F_OK), -1);
  assert_int_equal(access(dead_key, F_OK), -1);
  assert_int_equal(access(live, F_OK), 0);
  assert_int_equal(access(mine, F_OK), 0);
  assert_int_equal(access(other, F_OK), 0);
  int64_t n;
  char report[256];
  assert_int_equal(verify(f, &n, report, sizeof report), TE_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(an_untouched_log_verifies, setup, teardown),
      cmocka_unit_test_setup_teardown(an_edited_record_is_named, setup, teardown),
      cmocka_unit_test_setup_teardown(an_edited_flag_is_caught, setup, teardown),
      cmocka_unit_test_setup_teardown(a_removed_record_is_named, setup, teardown),
      cmocka_unit_test_setup_teardown(renumbering_to_hide_a_removal_is_caught, setup, teardown),
      cmocka_unit_test_setup_teardown(swapped_records_are_caught, setup, teardown),
      cmocka_unit_test_setup_teardown(a_change_and_its_record_land_together_or_not_at_all, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(two_writers_share_one_chain, setup, teardown),
      cmocka_unit_test_setup_teardown(nodes_append_in_turn_whatever_the_default_isolation, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(the_key_is_private_and_required, setup, teardown),
      cmocka_unit_test_setup_teardown(a_different_key_fails_verification, setup, teardown),
      cmocka_unit_test_setup_teardown(records_removed_from_the_end_are_caught, setup, teardown),
      cmocka_unit_test_setup_teardown(values_the_chain_cannot_vouch_for_are_caught, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_forged_extra_record_is_caught, setup, teardown),
      cmocka_unit_test_setup_teardown(a_key_others_can_read_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(another_path_to_the_database_uses_the_same_key, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(temps_left_by_a_killed_process_are_removed_at_open, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
