/* face_cli.h — `footfall face ...`: analyze, compare, decode, bench, calibrate. */
#ifndef FOOTFALL_FACE_CLI_H
#define FOOTFALL_FACE_CLI_H

/* argv[0] is "face"; returns the process exit status (0 ok, 1 failure, 2 usage). */
int face_cli_main(int argc, char **argv);

#endif
