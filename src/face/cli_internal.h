/* cli_internal.h — helpers shared by the `footfall face` subcommand files. */
#ifndef FOOTFALL_FACE_CLI_INTERNAL_H
#define FOOTFALL_FACE_CLI_INTERNAL_H

#include <stdio.h>

#include "face.h"

int cli_load_engine(const char *models, struct face_engine **engine, struct face_session **session);
void cli_json_string(FILE *out, const char *s);
int cli_parse_detector(const char *name, struct face_detect_options *o);
int cli_bench(int argc, char **argv);     /* bench.c */
int cli_calibrate(int argc, char **argv); /* calibrate.c */

#endif
