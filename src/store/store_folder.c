/* store_folder.c — the object store as a folder: a key is a path below the
 * root. Everything goes through a descriptor of the root opened once, so the
 * process's working directory does not matter and keys (already checked: no
 * `..`, no leading '/') cannot leave it.
 *
 * Durability: put writes ".tmp.<name>.<random>" beside the target, fsyncs
 * it, renames it over the target and fsyncs the folder. Readers see the old
 * object or the new one, never a part. Names starting with '.' are never
 * keys, so temporary files never show up in listings.
 *
 * delete removes folders left empty (up to the root) so that retention does
 * not leave a tree of empty date folders. A put racing with that removal
 * retries when its folder disappears under it.
 */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MODE 0750
#define FILE_MODE 0640
#define PUT_ATTEMPTS 5
#define PATH_BUF (STORE_KEY_MAX + 64)

struct folder {
  int root_fd;
  char *root; /* for messages */
};

static struct folder *folder_of(struct store *store) {
  return store->impl;
}

static int errno_status(int e) {
  switch (e) {
  case ENOENT: return FF_ENOTFOUND;
  case ENOMEM: return FF_ENOMEM;
  case EISDIR:
  case ENOTDIR:
  case EEXIST:
  case ENOTEMPTY: return FF_ECONFLICT;
  case EACCES:
  case EPERM:
  case EROFS: return FF_EFORBIDDEN;
  default: return FF_EIO;
  }
}

static int fail_errno(struct ff_error *err, int e, const char *what, const char *key) {
  return ff_fail(err, errno_status(e), "folder store: %s '%s': %s", what, key, strerror(e));
}

static int fsync_dir_of(int root_fd, const char *path) {
  const char *slash = strrchr(path, '/');
  int fd;
  if (!slash) {
    fd = dup(root_fd);
  } else {
    char dir[PATH_BUF];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    fd = openat(root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  if (fd < 0)
    return -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

/* Creates the folders of key's parent path. A file where a folder belongs
 * surfaces later as ENOTDIR. */
static int make_parents(int root_fd, const char *key) {
  char path[PATH_BUF];
  snprintf(path, sizeof path, "%s", key);
  for (char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
    *p = '\0';
    if (mkdirat(root_fd, path, DIR_MODE) == 0) {
      if (fsync_dir_of(root_fd, path) != 0)
        return -1;
    } else if (errno != EEXIST) {
      return -1;
    }
    *p = '/';
  }
  return 0;
}

static int write_all(int fd, const unsigned char *data, size_t len) {
  while (len) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Opens a fresh temporary file beside key; its name goes to tmp. */
static int open_temp(int root_fd, const char *key, char *tmp, size_t tmp_size) {
  const char *slash = strrchr(key, '/');
  int dir_len = slash ? (int)(slash - key + 1) : 0;
  for (int attempt = 0; attempt < 8; attempt++) {
    unsigned char r[8];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
      return -1;
    snprintf(tmp, tmp_size, "%.*s.tmp.%s.%02x%02x%02x%02x%02x%02x%02x%02x", dir_len, key,
             key + dir_len, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    int fd = openat(root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, FILE_MODE);
    if (fd >= 0 || errno != EEXIST)
      return fd;
  }
  errno = EEXIST;
  return -1;
}

static int folder_put(struct store *store, const char *key, const void *data, size_t len,
                      const char *content_type, struct ff_error *err) {
  struct folder *f = folder_of(store);
  char tmp[PATH_BUF];
  int fd = -1;
  for (int attempt = 0; attempt < PUT_ATTEMPTS && fd < 0; attempt++) {
    if (make_parents(f->root_fd, key) != 0 && errno != ENOENT)
      return fail_errno(err, errno, "cannot create the folders of", key);
    fd = open_temp(f->root_fd, key, tmp, sizeof tmp);
    if (fd < 0 && errno != ENOENT) /* ENOENT: a delete pruned the folder; again */
      break;
  }
  if (fd < 0)
    return fail_errno(err, errno, "cannot create a temporary file for", key);
  const char *step = "cannot write";
  if (write_all(fd, data, len) != 0)
    goto fail;
  step = "cannot fsync";
  if (fsync(fd) != 0)
    goto fail;
  step = "cannot close";
  int rc = close(fd);
  fd = -1;
  if (rc != 0)
    goto fail;
  step = "cannot rename a temporary file onto";
  if (renameat(f->root_fd, tmp, f->root_fd, key) != 0)
    goto fail;
  if (fsync_dir_of(f->root_fd, key) != 0)
    return fail_errno(err, errno, "cannot fsync the folder of", key);
  return FF_OK;
fail:;
  int e = errno;
  if (fd >= 0)
    close(fd);
  unlinkat(f->root_fd, tmp, 0);
  return fail_errno(err, e, step, key);
}

static int read_all(int fd, unsigned char *buf, size_t len) {
  while (len) {
    ssize_t n = read(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (n == 0) {
      errno = EIO; /* shorter than it said: only an outside hand does that */
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static int folder_get(struct store *store, const char *key, size_t max_size, void **data,
                      size_t *len, struct ff_error *err) {
  struct folder *f = folder_of(store);
  int fd = openat(f->root_fd, key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return ff_fail(err, FF_ENOTFOUND, "object '%s' not found", key);
    return fail_errno(err, errno, "cannot open", key);
  }
  struct stat st;
  int rc;
  if (fstat(fd, &st) != 0) {
    rc = fail_errno(err, errno, "cannot stat", key);
  } else if (!S_ISREG(st.st_mode)) {
    rc = ff_fail(err, FF_ENOTFOUND, "object '%s' not found (a folder is there)", key);
  } else if ((uint64_t)st.st_size > max_size) {
    rc = ff_fail(err, FF_ETOOBIG, "object '%s' is %lld bytes, over the limit of %zu", key,
                 (long long)st.st_size, max_size);
  } else {
    size_t size = (size_t)st.st_size;
    unsigned char *buf = malloc(size + 1);
    if (!buf) {
      rc = ff_fail(err, FF_ENOMEM, "out of memory reading '%s'", key);
    } else if (read_all(fd, buf, size) != 0) {
      rc = fail_errno(err, errno, "cannot read", key);
      free(buf);
    } else {
      buf[size] = '\0';
      *data = buf;
      *len = size;
      rc = FF_OK;
    }
  }
  close(fd);
  return rc;
}

static int folder_head(struct store *store, const char *key, uint64_t *size, struct ff_error *err) {
  struct folder *f = folder_of(store);
  struct stat st;
  if (fstatat(f->root_fd, key, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return ff_fail(err, FF_ENOTFOUND, "object '%s' not found", key);
    return fail_errno(err, errno, "cannot stat", key);
  }
  if (!S_ISREG(st.st_mode))
    return ff_fail(err, FF_ENOTFOUND, "object '%s' not found (not a file)", key);
  *size = (uint64_t)st.st_size;
  return FF_OK;
}

static int folder_remove(struct store *store, const char *key, struct ff_error *err) {
  struct folder *f = folder_of(store);
  if (unlinkat(f->root_fd, key, 0) != 0) {
    if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR)
      return FF_OK;
    return fail_errno(err, errno, "cannot delete", key);
  }
  /* Prune folders left empty; the first one that is not stops it. */
  char path[PATH_BUF];
  snprintf(path, sizeof path, "%s", key);
  for (char *slash = strrchr(path, '/'); slash; slash = strrchr(path, '/')) {
    *slash = '\0';
    if (unlinkat(f->root_fd, path, AT_REMOVEDIR) != 0)
      break;
  }
  return FF_OK;
}

static int folder_remove_many(struct store *store, const char *const *keys, size_t count,
                              struct ff_error *err) {
  int first = FF_OK;
  for (size_t i = 0; i < count; i++) {
    int rc = folder_remove(store, keys[i], first == FF_OK ? err : NULL);
    if (rc != FF_OK && first == FF_OK)
      first = rc;
  }
  return first;
}

/* ---- listing ---- */

/* A folder's entries in key order: a folder's name compares as if it ended
 * with '/', which is where its keys sort ("a-b/x" < "a/x" < "a0"). */
struct name {
  char *text; /* "name" or "name/" */
  unsigned char is_dir;
};

static int name_cmp(const void *a, const void *b) {
  return strcmp(((const struct name *)a)->text, ((const struct name *)b)->text);
}

struct walk {
  int root_fd;
  const char *prefix;
  size_t prefix_len;
  const char *after; /* the token: list keys strictly after it */
  size_t want;       /* page size + 1, to know whether another page exists */
  struct store_page *page;
  int status;
};

static int starts_with(const char *s, size_t s_len, const char *p, size_t p_len) {
  return s_len >= p_len && memcmp(s, p, p_len) == 0;
}

/* Walks folder `rel` (rel_len bytes, "" or ending with '/'), in key order. */
static void walk_dir(struct walk *w, char *rel, size_t rel_len) {
  /* A fresh descriptor even for the root: a dup would share the root's
   * directory position with every other thread listing. */
  int fd = openat(w->root_fd, rel_len ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno != ENOENT && errno != ENOTDIR) /* vanished meanwhile: nothing to list */
      w->status = FF_EIO;
    return;
  }
  DIR *dir = fdopendir(fd);
  if (!dir) {
    close(fd);
    w->status = FF_EIO;
    return;
  }
  struct name *names = NULL;
  size_t count = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    if (de->d_name[0] == '.')
      continue; /* ".", "..", temporary files: never keys */
    unsigned char type = de->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        continue;
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
    }
    if (type != DT_DIR && type != DT_REG)
      continue;
    size_t n = strlen(de->d_name);
    if (rel_len + n + 1 > STORE_KEY_MAX)
      continue; /* not something put could have made */
    if (count == cap) {
      cap = cap ? cap * 2 : 32;
      struct name *grown = realloc(names, cap * sizeof *grown);
      if (!grown) {
        w->status = FF_ENOMEM;
        break;
      }
      names = grown;
    }
    char *text = malloc(n + 2);
    if (!text) {
      w->status = FF_ENOMEM;
      break;
    }
    memcpy(text, de->d_name, n);
    text[n] = type == DT_DIR ? '/' : '\0';
    text[n + 1] = '\0';
    names[count].text = text;
    names[count].is_dir = type == DT_DIR;
    count++;
  }
  closedir(dir);
  if (w->status == FF_OK)
    qsort(names, count, sizeof *names, name_cmp);
  for (size_t i = 0; i < count && w->status == FF_OK && w->page->count < w->want; i++) {
    size_t n = strlen(names[i].text);
    memcpy(rel + rel_len, names[i].text, n + 1);
    size_t len = rel_len + n;
    if (names[i].is_dir) {
      /* Descend only if keys below can match the prefix and come after the
       * token. Every key below starts with rel; if rel sorts before the token
       * without being a prefix of it, all of them do. */
      int prefix_ok = starts_with(rel, len, w->prefix, w->prefix_len) ||
                      starts_with(w->prefix, w->prefix_len, rel, len);
      int after_ok = !w->after || strncmp(w->after, rel, len) == 0 || strcmp(rel, w->after) > 0;
      if (prefix_ok && after_ok)
        walk_dir(w, rel, len);
    } else if (starts_with(rel, len, w->prefix, w->prefix_len) &&
               (!w->after || strcmp(rel, w->after) > 0)) {
      struct stat st;
      if (fstatat(w->root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) != 0)
        continue; /* deleted meanwhile */
      int64_t modified_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
      if (store_page_push(w->page, rel, len, (uint64_t)st.st_size, modified_ms) != FF_OK)
        w->status = FF_ENOMEM;
    }
  }
  for (size_t i = 0; i < count; i++)
    free(names[i].text);
  free(names);
  rel[rel_len] = '\0';
}

static int folder_list(struct store *store, const char *prefix, const char *token,
                       unsigned page_size, struct store_page *page, struct ff_error *err) {
  struct folder *f = folder_of(store);
  struct walk w = {.root_fd = f->root_fd,
                   .prefix = prefix,
                   .prefix_len = strlen(prefix),
                   .after = token,
                   .want = (size_t)page_size + 1,
                   .page = page,
                   .status = FF_OK};
  char rel[PATH_BUF + 256];
  /* Start in the deepest folder the prefix names. */
  const char *slash = strrchr(prefix, '/');
  size_t start = slash ? (size_t)(slash - prefix + 1) : 0;
  memcpy(rel, prefix, start);
  rel[start] = '\0';
  walk_dir(&w, rel, start);
  if (w.status != FF_OK)
    return ff_fail(err, w.status, "folder store: cannot list '%s' in %s", prefix, f->root);
  if (page->count > page_size) {
    page->count--;
    free(page->entries[page->count].key);
    page->next_token = strdup(page->entries[page->count - 1].key);
    if (!page->next_token)
      return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  return FF_OK;
}

static void folder_close(struct store *store) {
  struct folder *f = folder_of(store);
  close(f->root_fd);
  free(f->root);
  free(f);
}

static const struct store_ops folder_ops = {
    .put = folder_put,
    .get = folder_get,
    .head = folder_head,
    .remove = folder_remove,
    .remove_many = folder_remove_many,
    .list = folder_list,
    .close = folder_close,
};

/* mkdir -p */
static int make_root(const char *root) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s", root) >= (int)sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
    *p = '\0';
    if (mkdir(path, DIR_MODE) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(path, DIR_MODE) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

int store_folder_open(struct store *store, const char *root, struct ff_error *err) {
  if (make_root(root) != 0)
    return ff_fail(err, errno_status(errno), "folder store: cannot create '%s': %s", root,
                   strerror(errno));
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return ff_fail(err, errno_status(errno), "folder store: cannot open '%s': %s", root,
                   strerror(errno));
  struct folder *f = calloc(1, sizeof *f);
  if (!f || !(f->root = strdup(root))) {
    free(f);
    close(fd);
    return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  f->root_fd = fd;
  store->backend = STORE_FOLDER;
  store->ops = &folder_ops;
  store->impl = f;
  return FF_OK;
}
