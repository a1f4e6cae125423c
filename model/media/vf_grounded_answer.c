/* Grounded answers in picture pixels; see vf_grounded_answer.h. */
#define G_LOG_DOMAIN "vf-grounded"

#include "vf_grounded_answer.h"

#include "vf_media_item.h"

struct VfGroundedAnswer {
  const VfChat *chat;
  VfGroundingParser *parser;
  gsize text_taken;  /* display bytes handed over */
  guint boxes_taken; /* objects handed over */
};

VfGroundedAnswer *
vf_grounded_answer_new(const VfChat *chat)
{
  VfGroundedAnswer *a = g_new0(VfGroundedAnswer, 1);
  a->chat = chat;
  uint32_t n_images = 0, n_videos = 0;
  vf_chat_count_media(chat, &n_images, &n_videos);
  a->parser = vf_grounding_parser_new(n_images);
  return a;
}

void
vf_grounded_answer_free(VfGroundedAnswer *a)
{
  if (!a)
    return;
  vf_grounding_parser_free(a->parser);
  g_free(a);
}

void
vf_grounded_answer_feed(VfGroundedAnswer *a, const char *piece, size_t len)
{
  vf_grounding_parser_feed(a->parser, piece, (gssize)len);
}

void
vf_grounded_answer_finish(VfGroundedAnswer *a)
{
  vf_grounding_parser_finish(a->parser);
}

/* The media item of the conversation's picture `number` (1-based, as the template counts), or NULL. */
static const VfMediaItem *
picture_item(const VfChat *chat, guint number)
{
  guint seen = 0;
  for (guint m = 0; m < chat->messages->len; m++) {
    const VfChatMessage *msg = chat->messages->pdata[m];
    for (guint p = 0; p < msg->parts->len; p++) {
      const VfChatPart *part = msg->parts->pdata[p];
      if (part->kind == VF_CHAT_PART_IMAGE && ++seen == number)
        return part->media;
    }
  }
  return NULL;
}

void
vf_grounded_answer_box(VfGroundedAnswer *a, guint i, VfGroundedBox *box)
{
  GArray *objects = vf_grounding_parser_objects(a->parser);
  g_return_if_fail(i < objects->len);
  const VfGroundingObject *o = &g_array_index(objects, VfGroundingObject, i);
  *box = (VfGroundedBox){.kind = o->kind, .label = o->label, .picture = o->picture,
                         .text_start = o->text_start, .text_end = o->text_end};
  const VfMediaItem *item = o->picture ? picture_item(a->chat, o->picture) : NULL;
  uint32_t width = 0, height = 0;
  if (item)
    vf_media_item_size(item, &width, &height);
  box->width = width;
  box->height = height;
  for (guint k = 0; k < (o->kind == VF_GROUNDING_QUAD ? 4u : 2u); k++)
    vf_grounding_to_pixels(o, k, width, height, &box->x[k], &box->y[k]);
}

void
vf_grounded_answer_take(VfGroundedAnswer *a, VfGroundedTextFunc on_text, VfGroundedBoxFunc on_box, void *user)
{
  gsize len = 0;
  const char *text = vf_grounding_parser_text(a->parser, &len);
  if (len > a->text_taken && on_text)
    on_text(text + a->text_taken, len - a->text_taken, user);
  a->text_taken = len;
  guint n = vf_grounded_answer_n_boxes(a);
  for (; a->boxes_taken < n; a->boxes_taken++) {
    VfGroundedBox box;
    vf_grounded_answer_box(a, a->boxes_taken, &box);
    if (on_box)
      on_box(&box, user);
  }
}

const char *
vf_grounded_answer_text(VfGroundedAnswer *a, gsize *len)
{
  return vf_grounding_parser_text(a->parser, len);
}

guint
vf_grounded_answer_n_boxes(VfGroundedAnswer *a)
{
  return vf_grounding_parser_objects(a->parser)->len;
}

void
vf_grounded_box_to_json(const VfGroundedBox *box, JsonBuilder *b)
{
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, box->kind == VF_GROUNDING_QUAD ? "quad" : "box");
  json_builder_set_member_name(b, "label");
  if (box->label)
    json_builder_add_string_value(b, box->label);
  else
    json_builder_add_null_value(b);
  json_builder_set_member_name(b, "picture");
  json_builder_add_int_value(b, box->picture);
  for (guint k = 0; k < (box->kind == VF_GROUNDING_QUAD ? 4u : 2u); k++) {
    char name[4] = {'x', (char)('1' + k), 0};
    json_builder_set_member_name(b, name);
    json_builder_add_double_value(b, box->x[k]);
    name[0] = 'y';
    json_builder_set_member_name(b, name);
    json_builder_add_double_value(b, box->y[k]);
  }
  json_builder_end_object(b);
}
