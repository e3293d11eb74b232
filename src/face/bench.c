/* bench.c — `footfall face bench` (placeholder until the timing code lands). */
#include "cli_internal.h"

int cli_bench(int argc, char **argv) {
  fprintf(stderr, "footfall face bench: not yet implemented\n");
  return 1;
}
