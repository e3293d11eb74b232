/* cli.c — `footfall face` subcommands. */
#include "face_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

static int usage(FILE *out) {
  fprintf(out,
          "usage: footfall face <subcommand> [options]\n\n"
          "  decode IMAGE OUT.ppm     write the decoded RGB (EXIF orientation applied) as PPM\n");
  return out == stdout ? 0 : 2;
}

static int cmd_decode(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: footfall face decode IMAGE OUT.ppm\n");
    return 2;
  }
  struct ff_error err = {0};
  struct face_image img;
  if (face_image_load(argv[1], NULL, &img, &err) != FF_OK) {
    fprintf(stderr, "footfall face decode: %s: %s\n", argv[1], err.message);
    return 1;
  }
  int rc = face_image_write_ppm(&img, argv[2], &err);
  face_image_free(&img);
  if (rc != FF_OK) {
    fprintf(stderr, "footfall face decode: %s\n", err.message);
    return 1;
  }
  return 0;
}

int face_cli_main(int argc, char **argv) {
  if (argc < 2)
    return usage(stderr);
  const char *sub = argv[1];
  if (!strcmp(sub, "help") || !strcmp(sub, "--help") || !strcmp(sub, "-h"))
    return usage(stdout);
  if (!strcmp(sub, "decode"))
    return cmd_decode(argc - 1, argv + 1);
  fprintf(stderr, "footfall face: unknown subcommand '%s'\n", sub);
  return usage(stderr);
}
