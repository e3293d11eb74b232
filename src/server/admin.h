/* admin.h — `footfall admin`: bootstrap tasks. */
#ifndef FOOTFALL_ADMIN_H
#define FOOTFALL_ADMIN_H

int admin_main(int argc, char **argv);

#endif
