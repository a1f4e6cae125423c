/* Grounding in Qwen2-VL's answers: the phrases it refers to and the boxes (or quads) it puts around them, as
 * the decoder produces them with the special tokens kept,
 *
 *   The <|object_ref_start|>cat<|object_ref_end|><|box_start|>(112,340),(508,901)<|box_end|> sleeps.
 *   <|quad_start|>(10,20),(300,22),(298,90),(9,88)<|quad_end|>           a quad (4 corners), e.g. OCR lines
 *
 * parsed into display text without the tokens ("The cat sleeps.") and objects that say where their phrase
 * sits in that text and which picture of the turn they belong to. Coordinates are in [0, 1000) of the picture
 * the model saw; vf_grounding_to_pixels() turns them into the original picture's pixels (the model sees the
 * whole picture scaled, so relative coordinates carry over unchanged).
 *
 *   g_autoptr(VfGroundingParser) p = vf_grounding_parser_new(2);     // the turn has 2 pictures
 *   vf_grounding_parser_feed(p, piece, -1);                          // for every streamed piece
 *   vf_grounding_parser_finish(p);
 *   vf_grounding_parser_text(p, &len); vf_grounding_parser_objects(p) // VfGroundingObject
 *
 * Rules: several boxes after one phrase each get that phrase; a box with no phrase just before it has no
 * label; a phrase with no box is plain text. A box belongs to the picture the answer named last before it
 * ("Picture 2"), else to the turn's last picture. Anything malformed (coordinates that are not numbers, a wrong
 * count of points, an unclosed box at the end) is kept as text, never dropped, never a crash. Pieces may split
 * anywhere, inside a special token or a number; the text of a piece that may still become a token is held back
 * until the next piece decides. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The markers (special tokens of Qwen2-VL's tokenizer). */
#define VF_GROUNDING_REF_START "<|object_ref_start|>"
#define VF_GROUNDING_REF_END "<|object_ref_end|>"
#define VF_GROUNDING_BOX_START "<|box_start|>"
#define VF_GROUNDING_BOX_END "<|box_end|>"
#define VF_GROUNDING_QUAD_START "<|quad_start|>"
#define VF_GROUNDING_QUAD_END "<|quad_end|>"

typedef enum {
  VF_GROUNDING_BOX,  /* two corners: (x1, y1) top left, (x2, y2) bottom right */
  VF_GROUNDING_QUAD, /* four corners, in the order written */
} VfGroundingKind;

typedef struct {
  VfGroundingKind kind;
  char *label;          /* the phrase, or NULL */
  double x[4], y[4];    /* [0, 1000) of the picture the model saw; a box uses the first two */
  guint picture;        /* 1-based number of the picture in the turn; 0 when the turn has none */
  gsize text_start;     /* the phrase's bytes in the display text (the box's position when unlabelled) */
  gsize text_end;
} VfGroundingObject;

typedef struct VfGroundingParser VfGroundingParser;

/* n_pictures: pictures in the turn being answered (boxes default to the last). */
VfGroundingParser *vf_grounding_parser_new(guint n_pictures);
void vf_grounding_parser_free(VfGroundingParser *parser);

/* len −1: NUL-terminated. */
void vf_grounding_parser_feed(VfGroundingParser *parser, const char *piece, gssize len);
/* The answer is complete: what was held back becomes text. */
void vf_grounding_parser_finish(VfGroundingParser *parser);

/* The display text so far (NUL-terminated; *len excludes the NUL and may be NULL). */
const char *vf_grounding_parser_text(VfGroundingParser *parser, gsize *len);
/* VfGroundingObject, in answer order (owned by the parser). */
GArray *vf_grounding_parser_objects(VfGroundingParser *parser);

/* Corner i of an object in pixels of the original picture (width × height). */
void vf_grounding_to_pixels(const VfGroundingObject *object, guint i, guint width, guint height, double *px,
                            double *py);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfGroundingParser, vf_grounding_parser_free)

G_END_DECLS
