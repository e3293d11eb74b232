/* main.c — `footfall <command>`: dispatches to the module behind each
 * subcommand. Nothing else lives here. */
#include <stdio.h>
#include <string.h>

#ifdef FOOTFALL_HAVE_FACE
#include "face_cli.h"
#endif

static int usage(FILE *out) {
  fprintf(out, "usage: footfall <command> [options]\n\n"
               "commands:\n"
#ifdef FOOTFALL_HAVE_FACE
               "  face       run the face engine on image files (analyze, compare, bench, calibrate)\n"
#endif
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
#ifdef FOOTFALL_HAVE_FACE
  if (!strcmp(command, "face"))
    return face_cli_main(argc - 1, argv + 1);
#endif
  fprintf(stderr, "footfall: unknown command '%s'\n", command);
  return usage(stderr);
}
