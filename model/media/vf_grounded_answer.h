/* VfGroundedAnswer: an answer streamed with its grounding markers kept (VfGenerateOptions.keep_grounding), turned
 * into what a user sees: the display text without the markers, and the boxes and quads it draws in pixels of
 * the conversation's original pictures. The CLI (chat --json "box" lines) and the window use it alike.
 *
 *   g_autoptr(VfGroundedAnswer) a = vf_grounded_answer_new(chat);    // before the answer is appended
 *   vf_grounded_answer_feed(a, piece, len);                           // for every streamed piece
 *   vf_grounded_answer_take(a, on_text, on_box, user);                // what became final since the last take
 *   vf_grounded_answer_finish(a); vf_grounded_answer_take(...);       // at the end
 *
 * Pictures are numbered as the chat template numbers them, over the whole conversation ("Picture 3" may be in
 * an earlier turn); a box belongs to the picture the answer names last before it, else to the conversation's
 * last picture (the turn's last when the turn has any). Coordinates in [0, 1000) of the picture the model saw
 * become the original picture's pixels (its VfMediaItem's size; a PDF page: the size it was rendered at):
 * x · width / 1000, y · height / 1000, unrounded. */
#pragma once

#include <json-glib/json-glib.h>

#include "vf_chat.h"
#include "vf_grounding.h"

typedef struct {
  VfGroundingKind kind;
  const char *label;        /* the phrase, or NULL */
  guint picture;            /* 1-based, over the conversation; 0 when it has none */
  guint width, height;      /* that picture's original size (0 × 0 when none) */
  double x[4], y[4];        /* corners in its pixels; a box uses the first two (top left, bottom right) */
  gsize text_start, text_end; /* the phrase's bytes in the display text */
} VfGroundedBox;

typedef struct VfGroundedAnswer VfGroundedAnswer;

/* `chat` is the conversation being answered; it must outlive the answer (its media items give the sizes, so
 * take pieces only once the turn has begun: the prompt reads every picture's header). */
VfGroundedAnswer *vf_grounded_answer_new(const VfChat *chat);
void vf_grounded_answer_free(VfGroundedAnswer *answer);

void vf_grounded_answer_feed(VfGroundedAnswer *answer, const char *piece, size_t len);
/* The answer is complete: what was held back (a possible marker's start) becomes text. */
void vf_grounded_answer_finish(VfGroundedAnswer *answer);

typedef void (*VfGroundedTextFunc)(const char *text, size_t len, void *user);
typedef void (*VfGroundedBoxFunc)(const VfGroundedBox *box, void *user);
/* Hands over the display text and the objects that became final since the last call (either callback may be
 * NULL): the text first, then the objects, whose phrases lie in text already handed over. */
void vf_grounded_answer_take(VfGroundedAnswer *answer, VfGroundedTextFunc on_text, VfGroundedBoxFunc on_box,
                             void *user);

/* The whole display text so far, and every object (n of them). */
const char *vf_grounded_answer_text(VfGroundedAnswer *answer, gsize *len);
guint vf_grounded_answer_n_boxes(VfGroundedAnswer *answer);
/* Object i in pixels. */
void vf_grounded_answer_box(VfGroundedAnswer *answer, guint i, VfGroundedBox *box);

/* The object as a JSON record, what `chat --json` prints:
 *   {"type":"box","label":"the cat","picture":1,"x1":50.512,"y1":102,"x2":229.108,"y2":270.3}
 *   {"type":"quad","label":null,"picture":2,"x1":…,"y1":…,"x2":…,"y2":…,"x3":…,"y3":…,"x4":…,"y4":…}
 * (a label of NULL is null; coordinates in the picture's pixels). */
void vf_grounded_box_to_json(const VfGroundedBox *box, JsonBuilder *builder);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfGroundedAnswer, vf_grounded_answer_free)
