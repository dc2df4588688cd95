/* Pure image operations on 8-bit and float HWC buffers: bilinear resize, channel conversion,
 * box scaling and clipping, mask resize, COCO run-length encoding, polygon rasterisation and
 * tight boxes. No I/O, no allocation: the caller passes every output buffer.
 *
 * Coordinates: pixel (x, y) covers the square [x, x+1) x [y, y+1); its centre is (x+0.5, y+0.5).
 * Boxes are float[4] = {x0, y0, x1, y1} in those continuous coordinates (x1, y1 exclusive), so
 * a box covering pixel columns 2..5 is x0 = 2, x1 = 6. Images are HWC, row-major, C innermost. */
#ifndef SALBENCH_IMAGE_H
#define SALBENCH_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Bilinear resize [H,W,C] -> [OH,OW,C], PyTorch F.interpolate(mode="bilinear",
 * align_corners=False, antialias=False) convention (the "half-pixel" one, also OpenCV
 * INTER_LINEAR's sampling):
 *   src = (dst + 0.5) * (in / out) - 0.5, clamped below at 0;
 *   i0 = floor(src), i1 = min(i0 + 1, in - 1), weight of i1 = src - i0.
 * Edges are clamped (the border pixel repeats). No antialiasing: a large downscale aliases.
 * The u8 version computes in float and rounds to nearest (halves up), clamped to [0, 255].
 * Any sizes >= 1; in == out copies exactly. out and in must not overlap. */
void image_resize_bilinear_u8(uint8_t *out, const uint8_t *in, int H, int W, int C, int OH,
                              int OW);
void image_resize_bilinear_f32(float *out, const float *in, int H, int W, int C, int OH, int OW);

/* Mask resize [H,W] -> [OH,OW] of a 0/1 mask (any non-zero input counts as 1): bilinear with
 * the same sampling as image_resize_bilinear_*, then out = (value >= 0.5), so a mask follows
 * the resized pixels. Output values are 0 or 1. */
void image_resize_mask(uint8_t *out, const uint8_t *in, int H, int W, int OH, int OW);

/* Nearest-neighbour mask resize with pixel-centre sampling (PyTorch "nearest-exact"):
 * src = min(floor((dst + 0.5) * in / out), in - 1). Output values are 0 or 1. */
void image_resize_mask_nearest(uint8_t *out, const uint8_t *in, int H, int W, int OH, int OW);

/* Channel conversion of n pixels from C to OC channels (C, OC in 1..4: grey, grey+alpha, RGB,
 * RGBA). Alpha is DROPPED, not composited (a transparent pixel keeps its colour). Grey -> RGB
 * replicates; RGB -> grey is ITU-R BT.601 luma in integers, (299 R + 587 G + 114 B + 500) /
 * 1000. Converting to 2 or 4 channels adds alpha = 255. out and in must not overlap unless
 * C == OC. */
void image_convert_channels(uint8_t *out, int OC, const uint8_t *in, int C, size_t n);

/* Scales a box from an H x W image to an OH x OW one: x * OW / W, y * OH / H. */
void image_scale_box(float box[4], int H, int W, int OH, int OW);

/* Clips a box to [0, W] x [0, H] in place. Returns 1 when it changed, else 0. A box whose
 * clipped width or height is <= 0 is empty: test with image_box_empty. */
int image_clip_box(float box[4], int H, int W);
int image_box_empty(const float box[4]);

/* Tight box of the non-zero pixels of a [H,W] mask, as integer pixel bounds {x0, y0, x1, y1}
 * with x1, y1 exclusive. Returns the number of non-zero pixels (the area); when it is 0 the box
 * is {0, 0, 0, 0}. */
size_t image_mask_box(int box[4], const uint8_t *mask, int H, int W);

/* COCO run-length encoding of a [H,W] mask (row-major in memory): runs are taken in
 * COLUMN-MAJOR order (down each column, then the next column), alternating 0-runs and 1-runs
 * and starting with a 0-run (which may be 0 long), exactly as pycocotools. `counts` must hold
 * H*W + 1 entries (the worst case); returns the number written (>= 1 unless H*W == 0).
 * Non-zero mask values count as 1. */
size_t image_rle_encode(uint32_t *counts, const uint8_t *mask, int H, int W);

/* Decodes COCO RLE counts into a row-major [H,W] mask of 0/1. Returns 0, or -1 with err_set
 * when the counts do not sum to H*W (the mask is then fully written up to the overrun, rest
 * zero). */
int image_rle_decode(uint8_t *mask, const uint32_t *counts, size_t n, int H, int W);

/* Rasterises one closed polygon (xy = x0,y0, x1,y1, ... for npoints >= 3 vertices, in the
 * continuous coordinates above) into a [H,W] mask by pixel-centre sampling with the EVEN-ODD
 * rule: pixel (x, y) is inside when its centre (x+0.5, y+0.5) is; a centre exactly on an edge
 * counts as inside on left/top edges and outside on right/bottom ones (so the square (1,1)-(4,3)
 * fills exactly columns 1..3, rows 1..2, as a box would). Inside pixels are set to 1,
 * others are left as they were, so calling it for each polygon of an object gives the union
 * (as pycocotools merges polygons). The mask must hold only 0 and 1 (bit 1 is used as scratch
 * while a row is filled). Vertices may lie outside the image. Fewer than 3 points draw nothing. Returns the number of pixels set by this call (including ones already 1). */
size_t image_fill_polygon(uint8_t *mask, int H, int W, const double *xy, int npoints);

#endif
