/* calibrate.c — `footfall face calibrate` (placeholder). */
#include "cli_internal.h"

int cli_calibrate(int argc, char **argv) {
  fprintf(stderr, "footfall face calibrate: not yet implemented\n");
  return 1;
}
