/* A draft that does not fit the context: the prompt line says by how much, Send is off with that reason, the
 * chips that cost most are marked, and Fit to Context lowers their sizes (a picture's pixel limit, a video's
 * frame count) until the prompt fits with room for an answer, showing the new costs before anything is sent.
 * When the conversation itself leaves no room, the offer is to go on in a new chat that carries its last turn
 * (vf_engine_carry_over). See vf_window.h. */
#define G_LOG_DOMAIN "vf-window"

#include "vf_window_private.h"

/* Room left for the answer when fitting: the answer limit, at most an eighth of the context. */
static guint
answer_room(VfWindow *self, guint context)
{
  return MIN(vf_engine_get_max_new_tokens(self->engine), context / 8);
}

void
vf_window_show_fit(VfWindow *self, guint tokens, guint context)
{
  self->prompt_tokens = tokens;
  self->prompt_context = context;
  guint over = tokens >= context ? tokens - context + 1 : 0;
  self->draft_too_long = over > 0;
  if (over) {
    g_autofree char *text = g_strdup_printf("Prompt: %u of %u tokens, %u too many to send. Fit to Context lowers "
                                            "the sizes of the attachments that cost most.",
                                            tokens, context, over);
    vf_composer_set_status(self->composer, text, TRUE);
  }
  vf_composer_set_fit_offer(self->composer, over);
  vf_window_update_actions(self);
  /* A fit that rounding left a little over goes on (the costs are estimates until counted). */
  if (over && self->fit_passes > 0 && self->fit_passes < 4)
    vf_window_fit_to_context(self);
  else
    self->fit_passes = 0;
}

void
vf_window_fit_to_context(VfWindow *self)
{
  guint context = self->prompt_context, tokens = self->prompt_tokens;
  if (!self->draft_too_long || context == 0)
    return;
  GListModel *attachments = vf_composer_get_attachments(self->composer);
  guint n = g_list_model_get_n_items(attachments), media = 0;
  for (guint i = 0; i < n; i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    media += vf_attachment_get_tokens(a);
  }
  /* What the attachments may cost: the context less the conversation, the text and the answer's room. */
  guint fixed = tokens - MIN(tokens, media), room = answer_room(self, context);
  if (media == 0 || fixed + room + 4 * n >= context) {
    vf_window_offer_carry_over(self);
    self->fit_passes = 0;
    return;
  }
  double ratio = (double)(context - fixed - room) / media;
  for (guint i = 0; i < n; i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    guint64 pixels;
    guint frames;
    vf_attachment_get_planned(a, &pixels, &frames);
    if (!pixels)
      continue;
    VfMediaOptions options = *vf_attachment_get_options(a);
    if (vf_attachment_get_kind(a) == VF_ATTACHMENT_VIDEO && frames > 2) {
      /* Fewer frames (each pair of frames is a step of the vision tower's time axis). */
      options.max_frames = MAX(2, (guint)(frames * ratio) & ~1u);
      options.min_frames = MIN(options.min_frames ? options.min_frames : 4, options.max_frames);
      options.nframes = 0;
    } else {
      /* A smaller picture (or frame): the cost goes with the pixels. */
      options.resized_width = options.resized_height = 0;
      options.min_pixels = 4 * 28 * 28;
      options.max_pixels = MAX(options.min_pixels, (guint64)(pixels * ratio));
      if (vf_attachment_get_kind(a) == VF_ATTACHMENT_VIDEO)
        continue; /* a video's frame size has no setting of its own here */
    }
    vf_attachment_set_options(a, &options);
  }
  self->fit_passes++;
  vf_window_schedule_count(self);
}

void
vf_window_offer_carry_over(VfWindow *self)
{
  vf_window_toast_with_button(self, "The conversation fills the context: go on in a new chat with its last turn, or "
                                    "open the model with a larger context (Preferences)",
                              "Continue in a _New Chat", "chat.carry-over");
}

static void
carry_over_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfWindow *self = VF_WINDOW(widget);
  if (self->answering)
    return;
  vf_window_dismiss_toasts(self);
  vf_engine_carry_over(self->engine, 1);
  vf_window_schedule_count(self);
}

static void
fit_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfWindow *self = VF_WINDOW(widget);
  self->fit_passes = 0;
  vf_window_fit_to_context(self);
}

void
vf_window_class_add_fit_actions(GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action(widget_class, "chat.fit-to-context", NULL, fit_activated);
  gtk_widget_class_install_action(widget_class, "chat.carry-over", NULL, carry_over_activated);
}
