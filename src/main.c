/* main.c — `footfall <command>`: dispatches to the module behind each
 * subcommand. Nothing else lives here. */
#include <stdio.h>
#include <string.h>

#include "config.h"

#ifdef FOOTFALL_HAVE_FACE
#include "face_cli.h"
#endif
#ifdef FOOTFALL_HAVE_SERVER
#include "admin.h"
#include "server.h"
#endif
#ifdef FOOTFALL_HAVE_WORKER
#include "worker.h"
#endif
#ifdef FOOTFALL_HAVE_DEMO
#include "demo.h"
#endif

static int usage(FILE *out) {
  fprintf(out,
          "usage: footfall <command> [options]\n\n"
          "commands:\n"
#ifdef FOOTFALL_HAVE_SERVER
          "  server     run the server: API, dashboard, recognition, fleet control\n"
          "  admin      bootstrap tasks (create a tenant, user, site or worker API key)\n"
#endif
#ifdef FOOTFALL_HAVE_WORKER
          "  worker     run a worker: cameras in, one durable event per person pass out\n"
#endif
#ifdef FOOTFALL_HAVE_FACE
          "  face       run the face engine on image files (analyze, compare, bench, calibrate)\n"
#endif
#ifdef FOOTFALL_HAVE_DEMO
          "  demo       the whole product on this machine: server, worker, demo camera\n"
#endif
          "  config     print every setting (--markdown: as docs/CONFIG.md)\n"
          "  help       this text\n\n"
          "`footfall <command> --help` describes each command.\n");
  return out == stdout ? 0 : 2;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return usage(stderr);
  const char *command = argv[1];
  if (!strcmp(command, "help") || !strcmp(command, "--help") || !strcmp(command, "-h"))
    return usage(stdout);
  if (!strcmp(command, "config")) {
    if (argc > 2 && !strcmp(argv[2], "--markdown"))
      config_print_markdown(stdout);
    else
      config_print_help(stdout, "<command>", "Every setting of every command.", ~0u);
    return 0;
  }
#ifdef FOOTFALL_HAVE_SERVER
  if (!strcmp(command, "server"))
    return server_main(argc - 1, argv + 1);
  if (!strcmp(command, "admin"))
    return admin_main(argc - 1, argv + 1);
#endif
#ifdef FOOTFALL_HAVE_WORKER
  if (!strcmp(command, "worker"))
    return worker_main(argc - 1, argv + 1);
#endif
#ifdef FOOTFALL_HAVE_DEMO
  if (!strcmp(command, "demo"))
    return demo_main(argc - 1, argv + 1);
#endif
#ifdef FOOTFALL_HAVE_FACE
  if (!strcmp(command, "face"))
    return face_cli_main(argc - 1, argv + 1);
#endif
  fprintf(stderr, "footfall: unknown command '%s'\n", command);
  return usage(stderr);
}
