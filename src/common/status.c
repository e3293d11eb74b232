#include "status.h"

#include <stdarg.h>
#include <stdio.h>

const char *ff_status_name(int status) {
  switch (status) {
  case FF_OK: return "ok";
  case FF_ENOMEM: return "out_of_memory";
  case FF_EIO: return "io_error";
  case FF_EINVAL: return "invalid";
  case FF_ENOTFOUND: return "not_found";
  case FF_ECONFLICT: return "conflict";
  case FF_ETOOBIG: return "too_large";
  case FF_EDB: return "database_error";
  case FF_EUNSUPPORTED: return "unsupported";
  case FF_EAUTH: return "unauthorized";
  case FF_EFORBIDDEN: return "forbidden";
  case FF_EBUSY: return "busy";
  case FF_ETIMEOUT: return "timeout";
  case FF_EINTERNAL: return "internal";
  }
  return "unknown";
}

int ff_fail(struct ff_error *err, int status, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->status = status;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return status;
}
