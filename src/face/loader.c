/* loader.c — moving named tensors from a manifest into a net (nets.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nets.h"

void param_store_free(struct param_store *s) {
  for (int i = 0; i < s->count; i++)
    free(s->arrays[i]);
  free(s->arrays);
  memset(s, 0, sizeof *s);
}

static int store_add(struct loader *L, float *p) {
  struct param_store *s = L->store;
  if (s->count == s->capacity) {
    int cap = s->capacity ? s->capacity * 2 : 64;
    float **a = realloc(s->arrays, (size_t)cap * sizeof *a);
    if (!a)
      return 0;
    s->arrays = a;
    s->capacity = cap;
  }
  s->arrays[s->count++] = p;
  return 1;
}

float *loader_take(struct loader *L, int rank, const int *dims, const char *fmt, ...) {
  if (L->rc != FF_OK)
    return NULL;
  char name[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  const struct weights_tensor *t = weights_find(L->w, name, rank, dims, L->err);
  if (!t) {
    L->rc = FF_EINVAL;
    return NULL;
  }
  if (!t->values) {
    L->rc = ff_fail(L->err, FF_EINVAL, "weights: tensor '%s' used twice", name);
    return NULL;
  }
  float *p = t->values;
  if (!store_add(L, p)) {
    L->rc = ff_fail(L->err, FF_ENOMEM, "out of memory");
    return NULL;
  }
  ((struct weights_tensor *)t)->values = NULL; /* ownership moves to the net */
  return p;
}

float *loader_alloc(struct loader *L, size_t n) {
  if (L->rc != FF_OK)
    return NULL;
  float *p = calloc(n ? n : 1, sizeof(float));
  if (!p || !store_add(L, p)) {
    free(p);
    L->rc = ff_fail(L->err, FF_ENOMEM, "out of memory");
    return NULL;
  }
  return p;
}

void loader_conv(struct loader *L, struct conv *c, int k, int cin, int cout, int stride,
                 const char *filters, const char *bias) {
  int fd[4] = {k, k, cin, cout}, bd[1] = {cout};
  c->kh = c->kw = k;
  c->cin = cin;
  c->cout = cout;
  c->stride = stride;
  c->w = loader_take(L, 4, fd, "%s", filters);
  c->b = bias ? loader_take(L, 1, bd, "%s", bias) : NULL;
  c->packed = 0;
  if (L->nconvs < (int)(sizeof L->convs / sizeof L->convs[0]))
    L->convs[L->nconvs++] = c;
  else if (L->rc == FF_OK)
    L->rc = ff_fail(L->err, FF_EINTERNAL, "loader: too many convolutions");
}

void loader_separable(struct loader *L, struct separable *s, int cin, int cout, int stride,
                      const char *prefix) {
  int dd[4] = {3, 3, cin, 1}, pd[4] = {1, 1, cin, cout}, bd[1] = {cout};
  s->dw.k = 3;
  s->dw.c = cin;
  s->dw.stride = stride;
  s->dw.b = NULL;
  s->dw.w = loader_take(L, 4, dd, "%s/depthwise_filter", prefix);
  s->pw.kh = s->pw.kw = 1;
  s->pw.cin = cin;
  s->pw.cout = cout;
  s->pw.stride = 1;
  s->pw.w = loader_take(L, 4, pd, "%s/pointwise_filter", prefix);
  s->pw.b = loader_take(L, 1, bd, "%s/bias", prefix);
  s->pw.packed = 0;
  if (L->nconvs < (int)(sizeof L->convs / sizeof L->convs[0]))
    L->convs[L->nconvs++] = &s->pw;
  else if (L->rc == FF_OK)
    L->rc = ff_fail(L->err, FF_EINTERNAL, "loader: too many convolutions");
}

int loader_finish(struct loader *L) {
  for (int i = 0; i < L->nconvs && L->rc == FF_OK; i++) {
    struct conv *c = L->convs[i];
    int panel = conv_panel_width(c->cout);
    if (!panel || !c->w)
      continue; /* odd widths (predictor heads) stay on sgemm */
    int K = c->kh * c->kw * c->cin;
    float *packed = malloc((size_t)K * c->cout * sizeof(float));
    if (!packed)
      return L->rc = ff_fail(L->err, FF_ENOMEM, "out of memory");
    conv_pack_weights(c->w, K, c->cout, panel, packed);
    /* swap the array in the store: the unpacked copy is freed */
    struct param_store *s = L->store;
    int k = 0;
    while (k < s->count && s->arrays[k] != c->w)
      k++;
    if (k == s->count) {
      free(packed);
      return L->rc = ff_fail(L->err, FF_EINTERNAL, "loader: weights not owned");
    }
    free(s->arrays[k]);
    s->arrays[k] = packed;
    c->w = packed;
    c->packed = panel;
  }
  return L->rc;
}

int separable_forward(struct arena *a, const struct tensor *in, const struct separable *s,
                      enum act act, struct tensor *out) {
  return dw_pw_forward(a, a, in, &s->dw, ACT_NONE, &s->pw, act, out);
}
