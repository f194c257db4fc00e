/* The group-commit writer of the SQL stores: one thread, one connection at a time; the jobs
 * queued while a commit is in flight share the next transaction and its commit. */

#include "store/sql.h"

#include "audit/files.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/threadname.h"
#include "core/timeutil.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bounded so one batch cannot hold the write lock for long; the rest waits for the next commit. */
#define BATCH_MAX 512

/* Gathering. Jobs that arrive one at a time, a few milliseconds apart (500 creations a second),
 * would each get a commit of their own: its fsync, its pages written again (the tokens table's
 * last page, the feed's), the cache's read of the feed. Once a commit ended less than
 * GATHER_AFTER_MS ago, so that writes are arriving steadily, the writer waits up to GATHER_MS
 * for GATHER_JOBS jobs before it begins: at 500 a second about five share each commit then,
 * for that much more latency. A commit's cost is mostly its own, not its jobs': on 78k SQLite
 * tokens 8 ms cut the server's CPU a creation by a quarter against 3 ms; on PostgreSQL at 500
 * creations a second, 16 ms took the server and the database 320 µs of CPU a creation against
 * 500 with 8 ms (p50 12 ms against 8), but OIDC exchanges from 64 clients ran at 3,865 a second
 * on SQLite against 5,163 with 8 ms, and 2,809 against 3,786 on PostgreSQL (paired runs): 8 it
 * stays. A write after a pause, and a batch already GATHER_JOBS long, begin at once. */
#define GATHER_AFTER_MS 10
#define GATHER_MS 8
#define GATHER_JOBS 16

struct writer {
  struct sql_store *store;
  unsigned char audit_key[AUDIT_KEY_LEN];
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  struct write_job *head, *tail;
  int queued;     /* jobs from head to tail */
  bool gathering; /* in take_batch's timed wait: a job short of GATHER_JOBS need not wake it */
  bool stopping;
  int64_t last_commit_ms; /* monotonic; when the last batch ended */
  unsigned commits;       /* this writer's, for pruning the feed now and then */
  unsigned pruned_at;     /* commits when the feed was last pruned */
};

static struct write_job *take_batch(struct writer *w, bool *stop) {
  pthread_mutex_lock(&w->lock);
  while (!w->head && !w->stopping)
    pthread_cond_wait(&w->wake, &w->lock);
  if (!w->stopping && time_monotonic_ms() - w->last_commit_ms < GATHER_AFTER_MS) {
    struct timespec until = time_deadline(CLOCK_MONOTONIC, GATHER_MS);
    w->gathering = true;
    while (!w->stopping && w->queued < GATHER_JOBS &&
           pthread_cond_timedwait(&w->wake, &w->lock, &until) == 0)
      ;
    w->gathering = false;
  }
  struct write_job *batch = w->head, *last = w->head;
  int n = batch ? 1 : 0;
  for (; last && last->next && n < BATCH_MAX; n++)
    last = last->next;
  w->queued -= n;
  if (last) {
    w->head = last->next;
    if (!w->head)
      w->tail = NULL;
    last->next = NULL;
  }
  *stop = !batch; /* the wait ends with an empty queue only when stopping */
  pthread_mutex_unlock(&w->lock);
  return batch;
}

/* The last audit record a batch wrote, for the head file once the batch is committed, and how
 * many it wrote (tessera_audit_records_total). */
struct audit_tail {
  int64_t seq;
  unsigned char chain[32];
  unsigned records;
};

/* Each job runs in its own savepoint so one failing job (say, a duplicate) leaves the others
 * intact; its audit record shares the savepoint, so a change whose record cannot be written is
 * undone. If the undo itself fails, *broken tells the caller to abandon the whole batch rather
 * than commit a change without its record. */
static int apply_one(struct writer *w, struct sql_conn *c, struct write_job *job,
                     struct audit_tail *tail, bool *broken) {
  int rc = sql_exec(c, STMT_SAVEPOINT, NULL, 0);
  if (rc)
    return rc;
  struct audit_tail mine = *tail;
  rc = job->apply ? job->apply(c, job) : TE_OK;
  if (rc == TE_OK && job->has_audit && !job->unchanged) {
    rc = audit_insert(c, w->audit_key, &job->audit, &mine.seq, mine.chain);
    mine.records++;
  }
  for (size_t i = 0; rc == TE_OK && !job->unchanged && i < job->more_audit_count; i++) {
    rc = audit_insert(c, w->audit_key, &job->more_audits[i], &mine.seq, mine.chain);
    mine.records++;
  }
  if (rc && sql_exec(c, STMT_ROLLBACK_TO, NULL, 0) != TE_OK)
    *broken = true;
  int released = sql_exec(c, STMT_RELEASE, NULL, 0);
  if (!rc && !released)
    *tail = mine;
  return rc ? rc : released;
}

/* The feed keeps the last CHANGES_KEPT versions; a node that has been away longer forgets its
 * whole cache instead (store_change_page.gap). Pruned every PRUNE_EVERY commits, in one. */
#define CHANGES_KEPT 100000
#define PRUNE_EVERY 1024

static const struct param changes_kept[] = {PARAM_I(CHANGES_KEPT)};

/* The steps before the COMMIT of a transaction which changed something, from *k on in steps:
 * the announcement to other nodes (delivered at commit) and, once PRUNE_EVERY commits have
 * gone by, the feed's pruning. *pruning: it is among them. */
static void changed_steps(const struct writer *w, struct sql_step *steps, int *k, bool *pruning) {
  steps[(*k)++] = SQL_STEP(STMT_NOTIFY);
  *pruning = w->commits - w->pruned_at >= PRUNE_EVERY;
  if (*pruning) {
    steps[(*k)++] =
        (struct sql_step){.id = STMT_CHANGES_PRUNE_MARK, .params = changes_kept, .n = 1};
    steps[(*k)++] = SQL_STEP(STMT_CHANGES_PRUNE);
  }
}

/* The chain, then COMMIT on its own: a chain that ended in COMMIT could still commit after the
 * client gave up on it (its statements are all in the server's hands; a late answer was taken
 * for a failure and the jobs told to try again), where a transaction whose COMMIT was never
 * sent is rolled back when its connection closes. Counts the commit. */
static int chain_then_commit(struct writer *w, struct sql_conn *c, const struct sql_step *steps,
                             int k, bool pruning) {
  int rc = k ? sql_chain(c, steps, k) : TE_OK;
  if (rc == TE_OK)
    rc = sql_exec(c, STMT_COMMIT, NULL, 0);
  if (rc) {
    sql_exec(c, STMT_ROLLBACK, NULL, 0);
    return rc;
  }
  w->commits++;
  if (pruning)
    w->pruned_at = w->commits;
  return TE_OK;
}

/* BEGIN with the write lock (other processes and nodes wait here, so audit records chain in
 * commit order, and the feed's versions grow in it), the jobs, then, when any job changed
 * something, the announcement to other nodes and COMMIT. */
static int run_jobs(struct writer *w, struct sql_conn *c, struct write_job *batch, int *results,
                    struct audit_tail *tail) {
  bool broken = false, changed = false;
  /* Why the batch was abandoned: a lost connection is TE_UNAVAILABLE (503: try again), not a
   * fault of ours. */
  int cause = TE_INTERNAL;
  struct sql_step steps[4] = {SQL_STEP(STMT_BEGIN), SQL_STEP(STMT_WRITE_LOCK)};
  bool pruning = false;
  int n = 0, k = 0, rc = sql_chain(c, steps, 2);
  if (rc)
    sql_exec(c, STMT_ROLLBACK, NULL, 0);
  for (struct write_job *j = batch; j; j = j->next) {
    bool was_broken = broken;
    results[n] = rc || broken ? (rc ? rc : cause) : apply_one(w, c, j, tail, &broken);
    if (broken && !was_broken && results[n] == TE_UNAVAILABLE)
      cause = TE_UNAVAILABLE;
    changed |= results[n++] == TE_OK;
  }
  if (rc)
    return rc;
  if (broken) {
    sql_exec(c, STMT_ROLLBACK, NULL, 0);
    return cause;
  }
  if (changed)
    changed_steps(w, steps, &k, &pruning);
  return chain_then_commit(w, c, steps, k, pruning);
}

/* Whether every job of the batch only inserts a token or an audit record: the common case, token
 * creations through the API and OIDC exchanges. */
static bool inserts_only(const struct write_job *batch) {
  for (const struct write_job *j = batch; j; j = j->next)
    if (j->apply && !j->insert_only)
      return false;
  return true;
}

#define TOKEN_ROW_PARAMS 17

/* The OIDC issuers an exchange batch touches, each with the creation time of its last token in
 * the batch: what the careful path's one touch a job leaves behind. */
struct touch {
  const char *issuer;
  int64_t last_used;
};

static void note_touch(struct touch *touches, int *count, const struct store_token *t) {
  for (int i = 0; i < *count; i++)
    if (strcmp(touches[i].issuer, t->oidc_issuer) == 0) {
      touches[i].last_used = t->created;
      return;
    }
  touches[(*count)++] = (struct touch){t->oidc_issuer, t->created};
}

/* An exchange batch's names, in one statement, and its issuers' last use (must_change: an issuer
 * deleted since the exchange began fails the batch, whose careful run then fails only its jobs). */
static int run_exchange_parts(struct sql_conn *c, const struct write_job *batch, int count) {
  struct param *names = calloc((size_t)count * 2, sizeof *names);
  struct touch *touches = calloc((size_t)count, sizeof *touches);
  if (!names || !touches)
    abort();
  int nnames = 0, ntouches = 0, rc = TE_OK;
  for (const struct write_job *j = batch; j; j = j->next) {
    const struct store_token *t = j->insert_only;
    if (!j->oidc_exchange)
      continue;
    if (t->kind != TOKEN_PERSONAL) {
      names[nnames * 2] = PARAM_I(t->org_id);
      names[nnames * 2 + 1] = PARAM_T(t->name);
      nnames++;
    }
    note_touch(touches, &ntouches, t);
  }
  if (nnames)
    rc = c->driver->run_rows(c, STMT_TOKEN_NAME_RESERVE, names, 2, nnames);
  for (int i = 0; i < ntouches && !rc; i++) {
    struct param p[] = {PARAM_T(touches[i].issuer), PARAM_I(touches[i].last_used)};
    rc = sql_write(c, STMT_OIDC_TOUCH, p, 2, true);
  }
  /* (Other nodes hear of the batch by the NOTIFY before its COMMIT: every exchange makes a
   * token.) */
  free(names);
  free(touches);
  return rc;
}

/* The fast path for such a batch: its tokens in one multi-row INSERT, its audit records (chained
 * in memory from the tail read once, under the write lock) in another, no savepoints; a handful of
 * round trips whatever the batch's size (exchanges add their names in one more, and a touch for
 * each issuer). Any failure (say, a colliding hash) undoes it all, and the batch then runs the
 * careful way, a savepoint a job, which tells each job its own result. */
static int run_inserts(struct writer *w, struct sql_conn *c, const struct write_job *batch,
                       int count, struct audit_tail *tail) {
  struct param *tokens = calloc((size_t)count * TOKEN_ROW_PARAMS, sizeof *tokens);
  struct param *records = calloc((size_t)count * AUDIT_ROW_PARAMS, sizeof *records);
  unsigned char(*chains)[32] = calloc((size_t)count, 32);
  if (!tokens || !records || !chains)
    abort();
  int ntokens = 0, nrecords = 0, k = 0, rc = TE_OK;
  bool audited = false, exchanges = false, pruning = false;
  for (const struct write_job *j = batch; j; j = j->next) {
    audited |= j->has_audit;
    exchanges |= j->oidc_exchange;
  }
  struct audit_tail_row last = {0, {0}};
  struct sql_step steps[SQL_CHAIN_MAX] = {SQL_STEP(STMT_BEGIN), SQL_STEP(STMT_WRITE_LOCK)};
  k = 2;
  /* Records chain from the log's tail, and an exchange's checks must pass before anything is
   * committed: both first, in a round trip of their own. Personal tokens need neither: the
   * whole transaction is then two round trips, its COMMIT the second. */
  if (audited)
    steps[k++] = audit_tail_step(&last);
  if (audited || exchanges) {
    rc = sql_chain(c, steps, k);
    k = 0;
  }
  if (!rc && exchanges)
    rc = run_exchange_parts(c, batch, count);
  int64_t seq = last.seq;
  unsigned char prev[32];
  memcpy(prev, last.chain, 32);
  for (const struct write_job *j = batch; j && !rc; j = j->next) {
    if (j->insert_only)
      token_insert_params(j->insert_only, &tokens[ntokens++ * TOKEN_ROW_PARAMS]);
    if (j->has_audit) {
      rc = audit_row(w->audit_key, &seq, prev, &j->audit, chains[nrecords],
                     &records[nrecords * AUDIT_ROW_PARAMS]);
      memcpy(prev, chains[nrecords++], 32);
    }
  }
  if (ntokens)
    steps[k++] = (struct sql_step){
        .id = STMT_TOKEN_INSERT, .params = tokens, .n = TOKEN_ROW_PARAMS, .rows = ntokens};
  if (nrecords)
    steps[k++] = (struct sql_step){
        .id = STMT_AUDIT_INSERT, .params = records, .n = AUDIT_ROW_PARAMS, .rows = nrecords};
  /* A new token is in the feed (caches hold every token): other nodes hear of it at once. */
  if (ntokens)
    changed_steps(w, steps, &k, &pruning);
  if (!rc)
    rc = chain_then_commit(w, c, steps, k, pruning);
  else
    sql_exec(c, STMT_ROLLBACK, NULL, 0);
  if (!rc && nrecords) {
    *tail = (struct audit_tail){.seq = seq, .records = (unsigned)nrecords};
    memcpy(tail->chain, prev, 32);
  }
  free(tokens);
  free(records);
  free(chains);
  return rc;
}

static void run_batch(struct writer *w, struct write_job *batch) {
  int results[BATCH_MAX] = {0};
  struct audit_tail tail = {0, {0}, 0};
  struct sql_conn *c;
  int count = 0;
  for (struct write_job *j = batch; j; j = j->next)
    count++;
  int rc = w->store->backend->writer_acquire(w->store, &c);
  if (rc == TE_OK) {
    bool careful = !inserts_only(batch) || run_inserts(w, c, batch, count, &tail) != TE_OK;
    if (careful) {
      tail = (struct audit_tail){0, {0}, 0};
      rc = run_jobs(w, c, batch, results, &tail);
    }
    w->store->backend->writer_release(w->store, c);
  }
  if (rc == TE_OK)
    metrics_commit((unsigned)count, tail.records);
  else
    metrics_commit_failed();
  /* After the commit: the head may lag the log (a crash here), never lead it. */
  if (!rc && tail.seq > 0 && audit_head_advance(w->store->head_path, tail.seq, tail.chain) != TE_OK)
    fprintf(stderr, "tessera: could not record the audit log's head at record %lld\n",
            (long long)tail.seq);
  /* The cache catches up before anyone hears of the commit: a deleted token is refused on the
   * very next request, and a new one (the feed names new tokens too) accepted. */
  if (w->store->watch_fn)
    w->store->watch_fn(w->store->watch_arg);
  int n = 0;
  for (struct write_job *j = batch, *next; j; j = next) {
    next = j->next;
    j->done(j->arg, rc ? rc : results[n]);
    n++;
    free(j->more_audits);
    free(j);
  }
}

static void *writer_main(void *arg) {
  struct writer *w = arg;
  for (;;) {
    bool stop;
    struct write_job *batch = take_batch(w, &stop);
    if (stop)
      return NULL;
    if (batch) {
      run_batch(w, batch);
      w->last_commit_ms = time_monotonic_ms(); /* only this thread reads it */
    }
  }
}

int writer_start(struct sql_store *s, const unsigned char audit_key[AUDIT_KEY_LEN],
                 struct writer **out) {
  struct writer *w = calloc(1, sizeof *w);
  if (!w)
    abort();
  w->store = s;
  memcpy(w->audit_key, audit_key, AUDIT_KEY_LEN);
  pthread_mutex_init(&w->lock, NULL);
  pthread_condattr_t attr; /* the gathering wait is timed on the monotonic clock */
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&w->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
    free(w);
    return TE_INTERNAL;
  }
  thread_name(w->thread, "writer");
  *out = w;
  return TE_OK;
}

void writer_submit(struct writer *w, struct write_job *job) {
  job->next = NULL;
  pthread_mutex_lock(&w->lock);
  if (w->tail)
    w->tail->next = job;
  else
    w->head = job;
  w->tail = job;
  /* A writer gathering sleeps on until its deadline or a full batch: waking it for each job
   * (500 a second) only to sleep again cost a futex call and two context switches a job. */
  if (++w->queued >= GATHER_JOBS || !w->gathering)
    pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
}

struct waiter {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool done;
  int result;
};

static void wake_waiter(void *arg, int result) {
  struct waiter *wt = arg;
  pthread_mutex_lock(&wt->lock);
  wt->result = result;
  wt->done = true;
  pthread_cond_signal(&wt->cond);
  pthread_mutex_unlock(&wt->lock);
}

int writer_submit_wait(struct writer *w, struct write_job *job) {
  struct waiter wt = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
  job->done = wake_waiter;
  job->arg = &wt;
  writer_submit(w, job);
  pthread_mutex_lock(&wt.lock);
  while (!wt.done)
    pthread_cond_wait(&wt.cond, &wt.lock);
  pthread_mutex_unlock(&wt.lock);
  return wt.result;
}

void writer_stop(struct writer *w) {
  pthread_mutex_lock(&w->lock);
  w->stopping = true;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->wake);
  OPENSSL_cleanse(w->audit_key, sizeof w->audit_key);
  free(w);
}
