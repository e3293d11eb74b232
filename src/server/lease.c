#include "lease.h"

#include <stddef.h>

static int worker_index(const struct lease_worker *w, int n, int64_t id) {
  for (int i = 0; i < n; i++)
    if (w[i].id == id)
      return i;
  return -1;
}

/* a/b < c/d for non-negative loads and positive capacities */
static int ratio_less(long a, long b, long c, long d) {
  return a * d < c * b;
}

void lease_balance(struct lease_worker *w, int nw, struct lease_camera *c, int nc) {
  for (int i = 0; i < nw; i++)
    w[i].load = 0;
  for (int k = 0; k < nc; k++) {
    c[k].assigned = 0;
    c[k].pinned = 0;
    for (int i = 0; i < nw && !c[k].assigned; i++)
      for (int j = 0; j < w[i].nlocal; j++)
        if (w[i].local[j] == c[k].id) {
          c[k].assigned = w[i].id;
          c[k].pinned = 1;
          w[i].load++;
          break;
        }
    if (c[k].assigned || !c[k].holder || !c[k].valid)
      continue;
    int i = worker_index(w, nw, c[k].holder);
    if (i < 0 || (!c[k].manual && w[i].load >= w[i].capacity))
      continue;
    c[k].assigned = w[i].id;
    c[k].pinned = c[k].manual;
    w[i].load++;
  }
  for (int k = 0; k < nc; k++) {
    if (c[k].assigned)
      continue;
    int best = -1;
    for (int i = 0; i < nw; i++) {
      if (w[i].capacity <= 0 || w[i].load >= w[i].capacity)
        continue;
      if (best < 0 ||
          ratio_less(w[i].load + 1, w[i].capacity, w[best].load + 1, w[best].capacity) ||
          (!ratio_less(w[best].load + 1, w[best].capacity, w[i].load + 1, w[i].capacity) &&
           w[i].load < w[best].load))
        best = i;
    }
    if (best >= 0) {
      c[k].assigned = w[best].id;
      w[best].load++;
    }
  }
  for (int round = 0; round < nc; round++) {
    int hi = -1, lo = -1;
    for (int i = 0; i < nw; i++) {
      if (w[i].capacity <= 0)
        continue;
      int movable = 0;
      for (int k = 0; k < nc && !movable; k++)
        movable = c[k].assigned == w[i].id && !c[k].pinned;
      if (movable && (hi < 0 || ratio_less(w[hi].load, w[hi].capacity, w[i].load, w[i].capacity)))
        hi = i;
      if (w[i].load < w[i].capacity &&
          (lo < 0 || ratio_less(w[i].load, w[i].capacity, w[lo].load, w[lo].capacity)))
        lo = i;
    }
    if (hi < 0 || lo < 0 || hi == lo ||
        ratio_less(w[hi].load - 1, w[hi].capacity, w[lo].load + 1, w[lo].capacity))
      break;
    int move = -1;
    for (int k = 0; k < nc; k++)
      if (c[k].assigned == w[hi].id && !c[k].pinned && (move < 0 || c[k].id > c[move].id))
        move = k;
    c[move].assigned = w[lo].id;
    w[hi].load--;
    w[lo].load++;
  }
}
