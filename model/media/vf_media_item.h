/* VfMediaItem: one picture or video of a conversation, made once — when it is attached (the window) or when a
 * prompt first names it (the CLI, JSON messages) — and carried on its VfChatPart from there to the vision encode:
 *
 *   attach ──open──► header (a picture's size; a URL downloaded once and its bytes kept; a video demuxed once to
 *   │                count its frames, the file kept open), the file's size and mtime
 *   ├──plan(options, processor)──► grid and token cost, from the header alone (again only when they change)
 *   ├──thumbnail──► pixels decoded once; the thumbnail comes from that decode, and the pixels are kept …
 *   send ──check──► the file is still what was attached (else VF_MEDIA_ERROR_CHANGED / _VANISHED)
 *   ├──image_input / video_input──► pixel_values for the vision tower (from the kept decode when there is one)
 *   └──release_pixels──► … until the vision output exists
 *
 * So a dropped picture is read for its header once (twice when no thumbnail was asked for: the second read is
 * the decode's) and decoded once, however often the draft is counted or the conversation continues.
 * vf_media_stats.h counts every read.
 *
 * Items are reference counted. What was read is immutable after creation and may be read from any thread; the
 * item's own plan and its kept pixels belong to one thread at a time (the window's inspection thread while it
 * makes the thumbnail, then the engine's worker). */
#pragma once

#include <gio/gio.h>

#include "vf_chat.h"
#include "vf_preprocess.h"
#include "vf_video.h"

#define VF_MEDIA_ERROR (vf_media_error_quark())
GQuark vf_media_error_quark(void);

typedef enum {
  VF_MEDIA_ERROR_CHANGED, /* the file's size or modification time differ from when it was attached */
  VF_MEDIA_ERROR_VANISHED, /* the file is gone */
} VfMediaError;

typedef enum {
  VF_MEDIA_IMAGE,
  VF_MEDIA_VIDEO,
} VfMediaKind;

typedef struct VfMediaItem VfMediaItem;

/* A picture: path, file://, data: URI or http(s) URL (downloaded now, once). Reads the header only.
 * A local PDF's page, "doc.pdf#page=3", is a picture too: the document is opened (not rendered) now, and the
 * page is rendered straight at the size each plan gives it (vf_pdf_page_pixels under the options' max_pixels,
 * VF_PDF_PAGE_PIXELS when none), so the picture pipeline's resize is a copy; the item's size is that size. */
VfMediaItem *vf_media_item_new_image(const char *source, GError **error);
/* A video file: opens it and counts its frames by demuxing (once). */
VfMediaItem *vf_media_item_new_video(const char *source, GCancellable *cancellable, GError **error);
/* A video given as images (NULL-terminated sources): every frame's header. */
VfMediaItem *vf_media_item_new_frames(const char *const *frames, GError **error);
/* A local file of either kind, told by its content (a picture decoder's verdict, then the content type). */
VfMediaItem *vf_media_item_open_file(const char *path, GCancellable *cancellable, GError **error);

VfMediaItem *vf_media_item_ref(VfMediaItem *item);
void vf_media_item_unref(VfMediaItem *item);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfMediaItem, vf_media_item_unref)

/* Gives `part` (an IMAGE or VIDEO part) a reference to `item`, replacing any it had. */
void vf_media_item_attach(VfMediaItem *item, VfChatPart *part);
/* A new part of `message` for the item (its source or frames, options as given; NULL: none), holding it. */
VfChatPart *vf_media_item_append_to(VfMediaItem *item, VfChatMessage *message, const VfMediaOptions *options);

VfMediaKind vf_media_item_kind(const VfMediaItem *item);
/* The source as given (NULL for a frame list), and the frames of a frame list (else NULL). */
const char *vf_media_item_source(const VfMediaItem *item);
const char *const *vf_media_item_frames(const VfMediaItem *item);
/* The picture's or frame's size; a video file's frame count (demuxed) and frame rate (0 when unknown). */
void vf_media_item_size(const VfMediaItem *item, uint32_t *width, uint32_t *height);
uint64_t vf_media_item_video_frames(const VfMediaItem *item);
double vf_media_item_video_fps(const VfMediaItem *item);

/* What the item becomes with these settings, from what was read when it was made (a frame list reads its
 * frames' headers again). */
typedef struct {
  VfImageOptions image_options; /* pictures: the settings as the image path takes them */
  VfImagePlan image;            /* pictures */
  VfVideoPlan *video;           /* videos (owned) */
  VfGrid grid;
  uint32_t n_tokens;
} VfMediaPlan;

/* A plan for the caller; the item is not changed, so any thread may ask (the window costs its chips so). */
gboolean vf_media_item_plan_for(const VfMediaItem *item, const VfMediaOptions *options,
                                const VfImageProcessorConfig *config, VfMediaPlan *plan, GError **error);
void vf_media_plan_clear(VfMediaPlan *plan);

/* The item's own plan, which the encode follows: made again only when the settings differ from the last ones.
 * The engine's worker only (the prompt plans through it). */
gboolean vf_media_item_plan(VfMediaItem *item, const VfMediaOptions *options, const VfImageProcessorConfig *config,
                            GError **error);
/* The last successful plan: pictures fill `image` (with VfImageOptions `image_options`), videos `video`. */
const VfImagePlan *vf_media_item_image_plan(const VfMediaItem *item, VfImageOptions *image_options);
const VfVideoPlan *vf_media_item_video_plan(const VfMediaItem *item);
VfGrid vf_media_item_grid(const VfMediaItem *item);
uint32_t vf_media_item_tokens(const VfMediaItem *item);

/* RGB8 [side, side, 3]: the centre square, box-filtered to at most max_side (a video's first frame; a PDF page's
 * top square, where pages differ). A picture's pixels are decoded for it and kept for the encode. */
GBytes *vf_media_item_thumbnail(VfMediaItem *item, uint32_t max_side, uint32_t *side, GError **error);

/* A picture that decoded but is damaged (known once it was decoded, e.g. for its thumbnail): "damaged: the
 * data stops at row 14 of 2700", else NULL. */
const char *vf_media_item_damage(const VfMediaItem *item);

/* FALSE when a local file changed or vanished since the item was made (sources that were read into memory —
 * URLs, data: URIs — cannot change). */
gboolean vf_media_item_check(const VfMediaItem *item, GError **error);

/* What the vision tower reads, for the item's last plan. */
VfImageInput *vf_media_item_image_input(VfMediaItem *item, GError **error);
VfVideoInput *vf_media_item_video_input(VfMediaItem *item, const VfVideoRunOptions *run, GError **error);
/* How long the last decode of a picture's pixels took (a PDF page: its render), in seconds; 0 before any. */
double vf_media_item_decode_seconds(const VfMediaItem *item);
/* Drops the kept pixels (after the vision output exists). */
void vf_media_item_release_pixels(VfMediaItem *item);
