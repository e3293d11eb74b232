/* staff.h — staff members and their face pictures: enrolment with the
 * server's face engine (exactly one usable face per picture, ready with two
 * or more), the recognition test, and the staff list workers fetch. Every
 * staff change bumps the staff-list version of the tenant's sites, which
 * heartbeats report so workers refresh their cache. */
#ifndef FOOTFALL_STAFF_H
#define FOOTFALL_STAFF_H

#include "face.h"
#include "http.h"

#define STAFF_READY_FACES 2

void staff_list(struct request *rq);
void staff_get(struct request *rq);
void staff_create(struct request *rq);
void staff_update(struct request *rq);
void staff_delete(struct request *rq);
void staff_add_face(struct request *rq);
void staff_delete_face(struct request *rq);
void staff_face_picture(struct request *rq);
void staff_recognize(struct request *rq);
void staff_for_worker(struct request *rq);

/* The picture of an upload request: a JSON body {"image": "<base64>"} or a
 * raw image/jpeg or image/png body. On failure the reply is written and NULL
 * returned; otherwise a malloc'd buffer the caller frees. */
unsigned char *upload_image(struct request *rq, size_t *size);

/* The faces of an uploaded picture (upload_image, then the face engine);
 * on failure the reply is written (422 bad_image, 413, 503) and NULL
 * returned. Caller frees the result; *picture (when asked for) too. */
struct face_result *upload_faces(struct request *rq, int *count, unsigned char **picture,
                                 size_t *picture_size);

/* The one usable face of an enrolment picture (staff, do-not-track); on
 * anything else replies 422 with a stable code (no_face, several_faces,
 * face_too_small, too_blurry) and returns NULL. */
const struct face_result *upload_single_face(struct request *rq, const struct face_result *faces,
                                             int count);

#endif
