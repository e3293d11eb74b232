/* static.h — serves the built dashboard (cfg.web_dir) with SPA fallback:
 * a path that names a file gets the file; any other non-API path gets
 * index.html, so client-side routes survive a reload. Paths with `..` or
 * NUL never reach the file system. When the dashboard is not built, a small
 * placeholder page says so. */
#ifndef FOOTFALL_STATIC_H
#define FOOTFALL_STATIC_H

struct request;
void static_serve(struct request *rq, const char *path);

#endif
