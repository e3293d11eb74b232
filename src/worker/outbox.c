#include "outbox.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"

struct outbox {
  /* `lock` guards the connection, the statements and the figures. */
  pthread_mutex_t lock;
  pthread_cond_t nonempty;
  int woken;
  sqlite3 *db;
  sqlite3_stmt *insert, *peek, *delete_one, *count, *drop_oldest, *drop_before, *meta_get,
      *meta_add;
  struct outbox_limits limits;
  int64_t events, bytes, pushed, acked, dropped;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS events ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " created_ms INTEGER NOT NULL,"
    " json TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_created ON events(created_ms);"
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES ('dropped', 0);";

static int db_fail(struct outbox *ob, struct ff_error *err, const char *what) {
  int code = sqlite3_errcode(ob->db);
  int status =
      (code == SQLITE_FULL || code == SQLITE_IOERR || code == SQLITE_CANTOPEN) ? FF_EIO : FF_EDB;
  return ff_fail(err, status, "outbox %s: %s", what, sqlite3_errmsg(ob->db));
}

static int prepare(struct outbox *ob, sqlite3_stmt **stmt, const char *sql, struct ff_error *err) {
  if (sqlite3_prepare_v3(ob->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK)
    return db_fail(ob, err, "prepare");
  return FF_OK;
}

static void refresh_figures(struct outbox *ob) {
  sqlite3_reset(ob->count);
  if (sqlite3_step(ob->count) == SQLITE_ROW) {
    ob->events = sqlite3_column_int64(ob->count, 0);
    ob->bytes = sqlite3_column_int64(ob->count, 1);
  }
  sqlite3_reset(ob->count);
}

int outbox_open(const char *path, const struct outbox_limits *limits, struct outbox **out,
                struct ff_error *err) {
  if (sodium_init() < 0)
    return ff_fail(err, FF_EINTERNAL, "libsodium failed to initialise");
  struct outbox *ob = calloc(1, sizeof *ob);
  if (!ob)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  ob->limits = *limits;
  pthread_mutex_init(&ob->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&ob->nonempty, &attr);
  pthread_condattr_destroy(&attr);
  int rc;
  if (sqlite3_open_v2(path, &ob->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      NULL) != SQLITE_OK) {
    rc = ff_fail(err, FF_EIO, "cannot open outbox %s: %s", path,
                 ob->db ? sqlite3_errmsg(ob->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(ob->db, 5000);
  /* WAL + FULL: a commit is on disk (WAL fsynced) before push returns. */
  if (sqlite3_exec(ob->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(ob->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
    rc = db_fail(ob, err, "schema");
    goto fail;
  }
  if ((rc = prepare(ob, &ob->insert, "INSERT INTO events(id, created_ms, json) VALUES (?1, ?2, ?3)",
                    err)) ||
      (rc = prepare(ob, &ob->peek,
                    "SELECT seq, id, created_ms, json FROM events ORDER BY seq LIMIT ?1", err)) ||
      (rc = prepare(ob, &ob->delete_one, "DELETE FROM events WHERE id = ?1", err)) ||
      (rc = prepare(ob, &ob->count, "SELECT count(*), coalesce(sum(length(json)), 0) FROM events",
                    err)) ||
      (rc =
           prepare(ob, &ob->drop_oldest,
                   "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?1)",
                   err)) ||
      (rc = prepare(ob, &ob->drop_before, "DELETE FROM events WHERE created_ms < ?1", err)) ||
      (rc = prepare(ob, &ob->meta_get, "SELECT value FROM meta WHERE name = 'dropped'", err)) ||
      (rc = prepare(ob, &ob->meta_add, "UPDATE meta SET value = value + ?1 WHERE name = 'dropped'",
                    err)))
    goto fail;
  refresh_figures(ob);
  if (sqlite3_step(ob->meta_get) == SQLITE_ROW)
    ob->dropped = sqlite3_column_int64(ob->meta_get, 0);
  sqlite3_reset(ob->meta_get);
  *out = ob;
  return FF_OK;
fail:
  outbox_close(ob);
  return rc;
}

void outbox_close(struct outbox *ob) {
  if (!ob)
    return;
  sqlite3_stmt *all[] = {ob->insert,      ob->peek,        ob->delete_one, ob->count,
                         ob->drop_oldest, ob->drop_before, ob->meta_get,   ob->meta_add};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    sqlite3_finalize(all[i]);
  sqlite3_close(ob->db);
  pthread_cond_destroy(&ob->nonempty);
  pthread_mutex_destroy(&ob->lock);
  free(ob);
}

void outbox_new_id(char id[OUTBOX_ID_SIZE]) {
  unsigned char b[16];
  randombytes_buf(b, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
  static const char hex[] = "0123456789abcdef";
  int n = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      id[n++] = '-';
    id[n++] = hex[b[i] >> 4];
    id[n++] = hex[b[i] & 15];
  }
  id[n] = 0;
}

/* Within a transaction: removes the oldest until the bounds hold. */
static int enforce_bounds(struct outbox *ob, int64_t now_ms, int64_t *dropped) {
  int64_t before = ob->events;
  if (ob->limits.max_age_ms > 0) {
    sqlite3_bind_int64(ob->drop_before, 1, now_ms - ob->limits.max_age_ms);
    int rc = sqlite3_step(ob->drop_before);
    sqlite3_reset(ob->drop_before);
    if (rc != SQLITE_DONE)
      return -1;
    refresh_figures(ob);
  }
  while ((ob->limits.max_events > 0 && ob->events > ob->limits.max_events) ||
         (ob->limits.max_bytes > 0 && ob->bytes > ob->limits.max_bytes && ob->events > 0)) {
    int64_t n = 1;
    if (ob->limits.max_events > 0 && ob->events > ob->limits.max_events)
      n = ob->events - ob->limits.max_events;
    sqlite3_bind_int64(ob->drop_oldest, 1, n);
    int rc = sqlite3_step(ob->drop_oldest);
    sqlite3_reset(ob->drop_oldest);
    if (rc != SQLITE_DONE)
      return -1;
    refresh_figures(ob);
  }
  *dropped = before - ob->events;
  if (*dropped > 0) {
    sqlite3_bind_int64(ob->meta_add, 1, *dropped);
    int rc = sqlite3_step(ob->meta_add);
    sqlite3_reset(ob->meta_add);
    if (rc != SQLITE_DONE)
      return -1;
  }
  return 0;
}

int outbox_push(struct outbox *ob, const char *id, int64_t created_ms, const char *json,
                size_t json_len, struct ff_error *err) {
  pthread_mutex_lock(&ob->lock);
  int rc = FF_OK;
  if (sqlite3_exec(ob->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
    rc = db_fail(ob, err, "begin");
    goto out;
  }
  sqlite3_bind_text(ob->insert, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(ob->insert, 2, created_ms);
  sqlite3_bind_text(ob->insert, 3, json, (int)json_len, SQLITE_STATIC);
  int step = sqlite3_step(ob->insert);
  sqlite3_reset(ob->insert);
  sqlite3_clear_bindings(ob->insert);
  if (step != SQLITE_DONE) {
    rc = sqlite3_errcode(ob->db) == SQLITE_CONSTRAINT
             ? ff_fail(err, FF_ECONFLICT, "event %s is already queued", id)
             : db_fail(ob, err, "insert");
    sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
    refresh_figures(ob);
    goto out;
  }
  ob->events++;
  ob->bytes += (int64_t)json_len;
  int64_t dropped = 0;
  if (enforce_bounds(ob, wall_ms(), &dropped)) {
    rc = db_fail(ob, err, "bounds");
    sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
    refresh_figures(ob);
    goto out;
  }
  if (sqlite3_exec(ob->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    rc = db_fail(ob, err, "commit");
    sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
    refresh_figures(ob);
    goto out;
  }
  ob->pushed++;
  ob->dropped += dropped;
  pthread_cond_broadcast(&ob->nonempty);
out:
  pthread_mutex_unlock(&ob->lock);
  return rc;
}

int outbox_peek(struct outbox *ob, int max, struct outbox_batch *out, struct ff_error *err) {
  out->items = NULL;
  out->count = 0;
  if (max <= 0)
    return FF_OK;
  out->items = calloc((size_t)max, sizeof *out->items);
  if (!out->items)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  pthread_mutex_lock(&ob->lock);
  int rc = FF_OK, step;
  sqlite3_bind_int(ob->peek, 1, max);
  while ((step = sqlite3_step(ob->peek)) == SQLITE_ROW && out->count < max) {
    struct outbox_item *it = &out->items[out->count];
    it->seq = sqlite3_column_int64(ob->peek, 0);
    snprintf(it->id, sizeof it->id, "%s", (const char *)sqlite3_column_text(ob->peek, 1));
    it->created_ms = sqlite3_column_int64(ob->peek, 2);
    const unsigned char *text = sqlite3_column_text(ob->peek, 3);
    it->json_len = (size_t)sqlite3_column_bytes(ob->peek, 3);
    it->json = malloc(it->json_len + 1);
    if (!it->json) {
      rc = ff_fail(err, FF_ENOMEM, "out of memory");
      break;
    }
    memcpy(it->json, text, it->json_len);
    it->json[it->json_len] = 0;
    out->count++;
  }
  if (rc == FF_OK && step != SQLITE_ROW && step != SQLITE_DONE)
    rc = db_fail(ob, err, "peek");
  sqlite3_reset(ob->peek);
  pthread_mutex_unlock(&ob->lock);
  if (rc)
    outbox_batch_free(out);
  return rc;
}

void outbox_batch_free(struct outbox_batch *batch) {
  for (int i = 0; i < batch->count; i++)
    free(batch->items[i].json);
  free(batch->items);
  batch->items = NULL;
  batch->count = 0;
}

int outbox_ack(struct outbox *ob, const char *const *ids, int count, struct ff_error *err) {
  if (count <= 0)
    return FF_OK;
  pthread_mutex_lock(&ob->lock);
  int rc = FF_OK;
  if (sqlite3_exec(ob->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
    rc = db_fail(ob, err, "begin");
    goto out;
  }
  int64_t deleted = 0;
  for (int i = 0; i < count; i++) {
    sqlite3_bind_text(ob->delete_one, 1, ids[i], -1, SQLITE_STATIC);
    int step = sqlite3_step(ob->delete_one);
    sqlite3_reset(ob->delete_one);
    if (step != SQLITE_DONE) {
      rc = db_fail(ob, err, "delete");
      sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
      goto out;
    }
    deleted += sqlite3_changes(ob->db);
  }
  if (sqlite3_exec(ob->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    rc = db_fail(ob, err, "commit");
    sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
    goto out;
  }
  ob->acked += deleted;
out:
  refresh_figures(ob);
  pthread_mutex_unlock(&ob->lock);
  return rc;
}

int outbox_expire(struct outbox *ob, int64_t now_ms, struct ff_error *err) {
  pthread_mutex_lock(&ob->lock);
  int rc = FF_OK;
  int64_t dropped = 0;
  if (sqlite3_exec(ob->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    rc = db_fail(ob, err, "begin");
  else if (enforce_bounds(ob, now_ms, &dropped) ||
           sqlite3_exec(ob->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    rc = db_fail(ob, err, "expire");
    sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
    dropped = 0;
  }
  ob->dropped += dropped;
  refresh_figures(ob);
  pthread_mutex_unlock(&ob->lock);
  return rc;
}

void outbox_get_stats(struct outbox *ob, struct outbox_stats *out) {
  pthread_mutex_lock(&ob->lock);
  out->events = ob->events;
  out->bytes = ob->bytes;
  out->pushed = ob->pushed;
  out->acked = ob->acked;
  out->dropped = ob->dropped;
  out->oldest_ms = 0;
  sqlite3_stmt *st;
  if (ob->events > 0 && sqlite3_prepare_v2(ob->db, "SELECT min(created_ms) FROM events", -1, &st,
                                           NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW)
      out->oldest_ms = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&ob->lock);
}

int64_t outbox_wait(struct outbox *ob, int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  int64_t ns = until.tv_nsec + (int64_t)(timeout_ms % 1000) * 1000000;
  until.tv_sec += timeout_ms / 1000 + ns / 1000000000;
  until.tv_nsec = ns % 1000000000;
  pthread_mutex_lock(&ob->lock);
  while (ob->events == 0 && !ob->woken)
    if (pthread_cond_timedwait(&ob->nonempty, &ob->lock, &until) == ETIMEDOUT)
      break;
  ob->woken = 0;
  int64_t n = ob->events;
  pthread_mutex_unlock(&ob->lock);
  return n;
}

void outbox_wake(struct outbox *ob) {
  pthread_mutex_lock(&ob->lock);
  ob->woken = 1;
  pthread_cond_broadcast(&ob->nonempty);
  pthread_mutex_unlock(&ob->lock);
}
