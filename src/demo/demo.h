/* demo.h — `footfall demo`: the server, a worker on a looping demo camera
 * and their set-up, in one terminal (what `make run` starts). */
#ifndef FOOTFALL_DEMO_DEMO_H
#define FOOTFALL_DEMO_DEMO_H

int demo_main(int argc, char **argv);

#endif
