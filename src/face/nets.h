/* nets.h — the six face-api nets: weights packed at load, forward passes.
 *
 * Each *_load takes the decoded manifest, moves the tensors it needs out of
 * it (folding batch norm / scale layers into the conv weights), checks every
 * shape and keeps them read-only afterwards. Forward passes only read the
 * net, take scratch from the caller's arena and are safe to run on many
 * threads at once with one arena each.
 */
#ifndef FOOTFALL_FACE_NETS_H
#define FOOTFALL_FACE_NETS_H

#include "kernels.h"
#include "weights.h"

/* Arrays a net owns (moved out of the manifest). */
struct param_store {
  float **arrays;
  int count, capacity;
};
void param_store_free(struct param_store *s);

/* Collects the first error while a net pulls its tensors. */
struct loader {
  struct weights *w;
  struct param_store *store;
  struct ff_error *err;
  int rc;
  struct conv *convs[128]; /* packed by loader_finish */
  int nconvs;
};
/* After all folding: repacks every conv whose width suits the direct kernel.
 * Returns L->rc. */
int loader_finish(struct loader *L);

/* Moves tensor `name` (printf format) with the given shape out of the manifest. */
float *loader_take(struct loader *L, int rank, const int *dims, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A float array of n owned by the net (zeroed). */
float *loader_alloc(struct loader *L, size_t n);
/* conv filters [kh,kw,cin,cout] + bias [cout] (bias name may be NULL). */
void loader_conv(struct loader *L, struct conv *c, int k, int cin, int cout, int stride,
                 const char *filters, const char *bias);
/* depthwise [3,3,c,1] + pointwise [1,1,cin,cout] + bias: "<prefix>/depthwise_filter" etc. */
struct separable {
  struct depthwise dw;
  struct conv pw;
};
void loader_separable(struct loader *L, struct separable *s, int cin, int cout, int stride,
                      const char *prefix);
int separable_forward(struct arena *a, const struct tensor *in, const struct separable *s,
                      enum act act, struct tensor *out);

/* ---- SSD MobileNet v1 ---- */
#define SSD_INPUT 512
#define SSD_ANCHORS 5118
struct ssd_net {
  struct param_store store;
  struct conv conv0;
  struct depthwise dw[14]; /* index 1..13 */
  struct conv pw[14];
  struct conv extra[8];
  struct conv box[6], cls[6];
  const float *anchors; /* [5118][4] ymin, xmin, ymax, xmax */
};
int ssd_load(struct weights *w, struct ssd_net *net, struct ff_error *err);
void ssd_free(struct ssd_net *net);
/* Runs the net on the image; fills boxes[5118][4] (decoded, relative to the
 * 512 square) and scores[5118]. The backbone's activations alternate between
 * `ping` and `pong` (each reset when it becomes the target), so only two
 * layers are alive at a time; everything else comes from `a`. */
int ssd_forward(const struct ssd_net *net, struct arena *a, struct arena *ping, struct arena *pong,
                const struct face_image *img, float *boxes, float *scores);

/* ---- Tiny face detector ---- */
struct tiny_net {
  struct param_store store;
  struct conv conv0;
  struct separable sep[6]; /* 1..5 */
  struct conv conv8;
};
int tiny_load(struct weights *w, struct tiny_net *net, struct ff_error *err);
void tiny_free(struct tiny_net *net);
/* Output grid (size/32)^2 x 25, raw (in `a`); activations in ping/pong. */
int tiny_forward(const struct tiny_net *net, struct arena *a, struct arena *ping,
                 struct arena *pong, const struct face_image *img, int input_size,
                 struct tensor *out);

/* ---- 68-point landmarks (full: 4 blocks, tiny: 3) ---- */
struct dense_block {
  struct conv first;       /* block 0 of the full net and of tiny: plain conv */
  struct separable conv0;  /* other blocks: stride-2 separable */
  struct separable sep[3]; /* conv1..conv3 (tiny uses 2) */
};
struct landmark_net {
  struct param_store store;
  int tiny;
  int blocks;
  struct dense_block block[4];
  const float *fc_w, *fc_b;
  int fc_in;
};
int landmark_load(struct weights *w, int tiny, struct landmark_net *net, struct ff_error *err);
void landmark_free(struct landmark_net *net);
/* 136 outputs, relative to the 112 padded square, for crop (x,y,w,h). */
int landmark_forward(const struct landmark_net *net, struct arena *a, const struct face_image *img,
                     int x, int y, int w, int h, float out[136]);

/* ---- Face descriptor (ResNet-34-like) ---- */
struct recognition_net {
  struct param_store store;
  struct conv conv32_down;
  struct conv res[15][2]; /* residual / residualDown pairs in order */
  const float *fc;        /* [256][128] */
};
int recognition_load(struct weights *w, struct recognition_net *net, struct ff_error *err);
void recognition_free(struct recognition_net *net);
int recognition_forward(const struct recognition_net *net, struct arena *a,
                        const struct face_image *img, int x, int y, int w, int h, float out[128]);

/* ---- Age / gender (TinyXception) ---- */
struct reduction_block {
  struct separable sep0, sep1;
  struct conv expansion;
};
struct age_gender_net {
  struct param_store store;
  struct conv conv_in;
  struct reduction_block rb0, rb1, exit_rb;
  struct separable main_sep[2][3];
  struct separable exit_sep;
  const float *age_w, *age_b, *gender_w, *gender_b;
};
int age_gender_load(struct weights *w, struct age_gender_net *net, struct ff_error *err);
void age_gender_free(struct age_gender_net *net);
/* age in years, p_male = softmax probability of index 0. */
int age_gender_forward(const struct age_gender_net *net, struct arena *a,
                       const struct face_image *img, int x, int y, int w, int h, float *age,
                       float *p_male);

#endif
