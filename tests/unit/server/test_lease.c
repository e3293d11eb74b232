/* The camera placement rule (lease.h), as a pure function. */
#include <criterion/criterion.h>

#include "lease.h"

static int load_of(const struct lease_camera *c, int n, int64_t worker) {
  int k = 0;
  for (int i = 0; i < n; i++)
    k += c[i].assigned == worker;
  return k;
}

Test(lease, spreads_new_cameras_by_capacity) {
  struct lease_worker w[] = {{.id = 1, .capacity = 2}, {.id = 2, .capacity = 4}};
  struct lease_camera c[6];
  for (int i = 0; i < 6; i++)
    c[i] = (struct lease_camera){.id = 10 + i};
  lease_balance(w, 2, c, 6);
  cr_assert_eq(load_of(c, 6, 1), 2);
  cr_assert_eq(load_of(c, 6, 2), 4);
  cr_assert_eq(w[0].load, 2);
  cr_assert_eq(w[1].load, 4);
}

Test(lease, never_above_capacity) {
  struct lease_worker w[] = {{.id = 1, .capacity = 1}};
  struct lease_camera c[] = {{.id = 1}, {.id = 2}};
  lease_balance(w, 1, c, 2);
  cr_assert_eq(c[0].assigned, 1);
  cr_assert_eq(c[1].assigned, 0, "nobody has room: unassigned");
}

Test(lease, valid_leases_stay_put) {
  struct lease_worker w[] = {{.id = 1, .capacity = 8}, {.id = 2, .capacity = 8}};
  struct lease_camera c[] = {{.id = 1, .holder = 2, .valid = 1},
                             {.id = 2, .holder = 1, .valid = 1}};
  lease_balance(w, 2, c, 2);
  cr_assert_eq(c[0].assigned, 2);
  cr_assert_eq(c[1].assigned, 1);
}

Test(lease, lost_worker_cameras_move) {
  /* worker 2 is not eligible any more: only 1 is given */
  struct lease_worker w[] = {{.id = 1, .capacity = 8}};
  struct lease_camera c[] = {{.id = 1, .holder = 1, .valid = 1},
                             {.id = 2, .holder = 2, .valid = 1},
                             {.id = 3, .holder = 2, .valid = 0}};
  lease_balance(w, 1, c, 3);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(c[i].assigned, 1);
}

Test(lease, expired_lease_is_placed_again) {
  struct lease_worker w[] = {{.id = 1, .capacity = 8}, {.id = 2, .capacity = 8}};
  struct lease_camera c[] = {{.id = 1, .holder = 1, .valid = 1},
                             {.id = 2, .holder = 1, .valid = 0}};
  lease_balance(w, 2, c, 2);
  cr_assert_eq(c[0].assigned, 1);
  cr_assert_eq(c[1].assigned, 2, "the least loaded worker takes the expired camera");
}

Test(lease, returning_worker_gets_its_share) {
  struct lease_worker w[] = {{.id = 1, .capacity = 8}, {.id = 2, .capacity = 8}};
  struct lease_camera c[4];
  for (int i = 0; i < 4; i++)
    c[i] = (struct lease_camera){.id = i + 1, .holder = 1, .valid = 1};
  lease_balance(w, 2, c, 4);
  cr_assert_eq(w[0].load, 2);
  cr_assert_eq(w[1].load, 2);
  cr_assert_eq(c[3].assigned, 2, "the highest ids move first");
  cr_assert_eq(c[2].assigned, 2);
}

Test(lease, no_churn_for_one_camera_difference) {
  struct lease_worker w[] = {{.id = 1, .capacity = 8}, {.id = 2, .capacity = 8}};
  struct lease_camera c[] = {{.id = 1, .holder = 1, .valid = 1},
                             {.id = 2, .holder = 1, .valid = 1},
                             {.id = 3, .holder = 2, .valid = 1}};
  lease_balance(w, 2, c, 3);
  cr_assert_eq(c[0].assigned, 1);
  cr_assert_eq(c[1].assigned, 1);
  cr_assert_eq(c[2].assigned, 2);
}

Test(lease, manual_and_local_cameras_are_pinned) {
  int64_t local[] = {3};
  struct lease_worker w[] = {{.id = 1, .capacity = 8},
                             {.id = 2, .capacity = 8, .local = local, .nlocal = 1}};
  struct lease_camera c[] = {{.id = 1, .holder = 1, .valid = 1, .manual = 1},
                             {.id = 2, .holder = 1, .valid = 1, .manual = 1},
                             {.id = 3, .holder = 1, .valid = 1}, /* 2 runs it locally */
                             {.id = 4}};
  lease_balance(w, 2, c, 4);
  cr_assert_eq(c[0].assigned, 1);
  cr_assert_eq(c[1].assigned, 1, "manual leases are not rebalanced");
  cr_assert_eq(c[2].assigned, 2, "a local camera stays with the worker that runs it");
  cr_assert(c[2].pinned && c[0].pinned);
  cr_assert_eq(c[3].assigned, 2);
}

Test(lease, capacity_weights_the_balance) {
  struct lease_worker w[] = {{.id = 1, .capacity = 1}, {.id = 2, .capacity = 3}};
  struct lease_camera c[4];
  for (int i = 0; i < 4; i++)
    c[i] = (struct lease_camera){.id = i + 1, .holder = 2, .valid = 1};
  lease_balance(w, 2, c, 4);
  cr_assert_eq(w[0].load, 1);
  cr_assert_eq(w[1].load, 3);
}

Test(lease, no_workers_no_assignment) {
  struct lease_camera c[] = {{.id = 1, .holder = 5, .valid = 1}};
  lease_balance(NULL, 0, c, 1);
  cr_assert_eq(c[0].assigned, 0);
}

Test(lease, deterministic) {
  struct lease_worker w1[] = {
      {.id = 1, .capacity = 3}, {.id = 2, .capacity = 3}, {.id = 3, .capacity = 3}};
  struct lease_worker w2[] = {
      {.id = 1, .capacity = 3}, {.id = 2, .capacity = 3}, {.id = 3, .capacity = 3}};
  struct lease_camera a[7], b[7];
  for (int i = 0; i < 7; i++)
    a[i] = b[i] = (struct lease_camera){.id = i + 1};
  lease_balance(w1, 3, a, 7);
  lease_balance(w2, 3, b, 7);
  for (int i = 0; i < 7; i++)
    cr_assert_eq(a[i].assigned, b[i].assigned);
  cr_assert(w1[0].load <= 3 && w1[1].load <= 3 && w1[2].load <= 3);
  cr_assert_eq(w1[0].load + w1[1].load + w1[2].load, 7);
}
