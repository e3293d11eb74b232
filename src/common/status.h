/* status.h — the one error convention of the codebase.
 *
 * Functions that can fail return an int: FF_OK (0) on success, or one of the
 * negative FF_E* codes below. Where a caller needs to tell a human what went
 * wrong (a hostile weight file, an invalid request field), the function also
 * takes a `struct ff_error *` (may be NULL) and fills it with a short message.
 * Library code never exits and never logs on its own behalf; the caller
 * decides what to log.
 */
#ifndef FOOTFALL_STATUS_H
#define FOOTFALL_STATUS_H

#include <stddef.h>

enum ff_status {
  FF_OK = 0,
  FF_ENOMEM = -1,       /* an allocation failed */
  FF_EIO = -2,          /* reading or writing a file or socket failed */
  FF_EINVAL = -3,       /* input from outside is malformed or out of range */
  FF_ENOTFOUND = -4,    /* the thing asked for does not exist (or is not yours) */
  FF_ECONFLICT = -5,    /* the request contradicts current state (duplicate, in use) */
  FF_ETOOBIG = -6,      /* input exceeds a configured limit */
  FF_EDB = -7,          /* the database refused or failed */
  FF_EUNSUPPORTED = -8, /* valid, but not something we handle */
  FF_EAUTH = -9,        /* missing, expired or wrong credentials */
  FF_EFORBIDDEN = -10,  /* authenticated but not allowed */
  FF_EBUSY = -11,       /* try again later (rate limit, lock held) */
  FF_ETIMEOUT = -12,    /* a deadline passed */
  FF_EINTERNAL = -13,   /* a bug or an impossible state */
};

/* A short, stable, lower-case name for a status ("invalid", "not_found"...). */
const char *ff_status_name(int status);

#define FF_ERROR_MESSAGE_MAX 256

struct ff_error {
  int status;
  char message[FF_ERROR_MESSAGE_MAX];
};

/* Records status and a printf-style message in err (if err is not NULL) and
 * returns status, so failures read `return ff_fail(err, FF_EINVAL, "...")`. */
int ff_fail(struct ff_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
