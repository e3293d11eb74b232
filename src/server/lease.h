/* lease.h — which worker runs which camera: the placement rule, as a pure
 * function (no database, no clock) so it can be tested on its own.
 *
 * Input: the site's eligible workers (online or late, not in maintenance,
 * capacity > 0) and its enabled cameras with their current holder. Rules,
 * in order:
 * 1. a camera a worker runs from its own command line (local camera) stays
 *    with that worker (the lowest worker index when two claim it);
 * 2. a camera whose lease is still valid stays with its holder when the
 *    holder is eligible (no churn while nothing changes); a manual lease
 *    (set by an admin) is never moved by the balancer;
 * 3. every other camera goes to the worker with the lowest load/capacity
 *    after taking it (ties: lower load, then lower index), never above a
 *    worker's capacity — a camera nobody has room for stays unassigned (0);
 * 4. then, while moving one automatic camera from the most loaded worker to
 *    the least loaded makes the ratio of neither worse than the other's
 *    was ((min+1)/cap_min <= (max-1)/cap_max), it moves (the highest camera
 *    id first): a worker that comes back gets its share again.
 * Deterministic: the same input gives the same answer.
 */
#ifndef FOOTFALL_LEASE_H
#define FOOTFALL_LEASE_H

#include <stdint.h>

struct lease_worker {
  int64_t id;
  int capacity;
  const int64_t *local; /* camera ids it runs from its command line */
  int nlocal;
  int load; /* out: cameras assigned */
};

struct lease_camera {
  int64_t id;
  int64_t holder;   /* current holder's worker id, 0 = none */
  int valid;        /* the holder's lease has not expired */
  int manual;       /* set by an admin */
  int64_t assigned; /* out: worker id, 0 = nobody has room */
  int pinned;       /* out: local or manual, not moved by rule 4 */
};

void lease_balance(struct lease_worker *workers, int nworkers, struct lease_camera *cameras,
                   int ncameras);

#endif
