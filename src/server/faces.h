/* faces.h — the face engine inside the server (staff enrolment, search by
 * photo, the recognition test): the same models as the workers, so staff
 * and customer descriptors live in one space.
 *
 * The engine loads on first use (models from --models-dir) and is shared;
 * inference runs on a small pool of sessions (one per core), so at most
 * that many pictures are analysed at once and memory stays bounded.
 */
#ifndef FOOTFALL_FACES_H
#define FOOTFALL_FACES_H

#include <stddef.h>

#include "face.h"
#include "status.h"

struct server;

#define UPLOAD_MAX_PIXELS (40ull * 1000 * 1000)
#define UPLOAD_MAX_FACES 32

/* Decodes an uploaded JPEG or PNG (limits: max-upload-bytes, 40 megapixels)
 * and analyses every face in it. *count faces are written to out. */
int faces_analyze(struct server *s, const void *data, size_t size, struct face_result *out,
                  int capacity, int *count, struct ff_error *err);
void faces_free(struct server *s);

#endif
