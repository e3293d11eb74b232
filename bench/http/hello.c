/* A bare ulfius server answering "hello" on every path: the ceiling the
 * real server is measured against in bench/http/run.sh. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <ulfius.h>

static int hello(const struct _u_request *req, struct _u_response *res, void *data) {
  (void)req;
  (void)data;
  ulfius_set_string_body_response(res, 200, "{\"hello\":\"world\"}");
  u_map_put(res->map_header, "Content-Type", "application/json");
  return U_CALLBACK_COMPLETE;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: bench_http_hello PORT\n");
    return 2;
  }
  struct _u_instance instance;
  if (ulfius_init_instance(&instance, (unsigned)atoi(argv[1]), NULL, NULL) != U_OK)
    return 1;
  ulfius_add_endpoint_by_val(&instance, "GET", "/", "*", 0, hello, NULL);
  ulfius_set_default_endpoint(&instance, hello, NULL);
  if (ulfius_start_framework(&instance) != U_OK)
    return 1;
  printf("listening on %s\n", argv[1]);
  fflush(stdout);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sig;
  sigwait(&set, &sig);
  ulfius_stop_framework(&instance);
  ulfius_clean_instance(&instance);
  return 0;
}
