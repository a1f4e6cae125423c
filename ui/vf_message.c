/* A message of the conversation. See vf_message.h. */
#define G_LOG_DOMAIN "vf-message"

#include "vf_message.h"

struct _VfMessage {
  GObject parent_instance;

  VfMessageRole role;
  GString *text;
  GListStore *attachments; /* VfAttachment */
  VfMessageState state;
  char *stage;
  double stage_fraction;
  guint tokens;
  double tokens_per_second;
  gint64 first_piece_time; /* µs, monotonic; 0 before the first piece (of this turn) */
  guint tokens_before_first_piece;
  gboolean cut, can_continue;
  guint64 id;
  gboolean last_answer;
  guint alternative, n_alternatives;
  /* While continued: what it was before (restored by undo_continue, added up by finish). */
  gboolean continuing;
  gsize continued_len;
  guint continued_tokens;
  double continued_seconds;
  VfMessageState continued_state;
};

G_DEFINE_FINAL_TYPE(VfMessage, vf_message, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ROLE,
  PROP_TEXT,
  PROP_ATTACHMENTS,
  PROP_STATE,
  PROP_STAGE,
  PROP_STAGE_FRACTION,
  PROP_TOKENS,
  PROP_TOKENS_PER_SECOND,
  PROP_CUT,
  PROP_CAN_CONTINUE,
  PROP_ID,
  PROP_LAST_ANSWER,
  PROP_ALTERNATIVES,
  N_PROPS,
};

static GParamSpec *properties[N_PROPS];

VfMessage *
vf_message_new_user(const char *text, GListModel *attachments)
{
  VfMessage *self = g_object_new(VF_TYPE_MESSAGE, NULL);
  self->role = VF_MESSAGE_USER;
  self->state = VF_MESSAGE_DONE;
  g_string_assign(self->text, text ? text : "");
  guint n = attachments ? g_list_model_get_n_items(attachments) : 0;
  for (guint i = 0; i < n; i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    g_list_store_append(self->attachments, a);
  }
  return self;
}

VfMessage *
vf_message_new_assistant(void)
{
  VfMessage *self = g_object_new(VF_TYPE_MESSAGE, NULL);
  self->role = VF_MESSAGE_ASSISTANT;
  self->state = VF_MESSAGE_WAITING;
  self->stage = g_strdup("Waiting for the model");
  self->stage_fraction = -1;
  return self;
}

VfMessageRole vf_message_get_role(VfMessage *self) { return self->role; }
const char *vf_message_get_text(VfMessage *self) { return self->text->str; }
GListModel *vf_message_get_attachments(VfMessage *self) { return G_LIST_MODEL(self->attachments); }

void
vf_message_insert_attachment(VfMessage *self, guint position, VfAttachment *attachment)
{
  g_return_if_fail(self->role == VF_MESSAGE_USER);
  g_list_store_insert(self->attachments, position, attachment);
}
VfMessageState vf_message_get_state(VfMessage *self) { return self->state; }
const char *vf_message_get_stage(VfMessage *self) { return self->stage; }
double vf_message_get_stage_fraction(VfMessage *self) { return self->stage_fraction; }
guint vf_message_get_tokens(VfMessage *self) { return self->tokens; }
double vf_message_get_tokens_per_second(VfMessage *self) { return self->tokens_per_second; }
gboolean vf_message_get_cut(VfMessage *self) { return self->cut; }
guint64 vf_message_get_id(VfMessage *self) { return self->id; }
gboolean vf_message_get_last_answer(VfMessage *self) { return self->last_answer; }
guint vf_message_get_alternative(VfMessage *self) { return self->alternative; }
guint vf_message_get_n_alternatives(VfMessage *self) { return self->n_alternatives; }

void
vf_message_set_id(VfMessage *self, guint64 id)
{
  if (self->id == id)
    return;
  self->id = id;
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_ID]);
}

void
vf_message_set_last_answer(VfMessage *self, gboolean last)
{
  if (self->last_answer == last)
    return;
  self->last_answer = last;
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_LAST_ANSWER]);
}

void
vf_message_set_alternatives(VfMessage *self, guint index, guint count)
{
  g_return_if_fail(index < count);
  if (self->alternative == index && self->n_alternatives == count)
    return;
  self->alternative = index;
  self->n_alternatives = count;
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_ALTERNATIVES]);
}
gboolean vf_message_get_can_continue(VfMessage *self) { return self->can_continue; }

void
vf_message_set_can_continue(VfMessage *self, gboolean can_continue)
{
  if (self->can_continue == can_continue)
    return;
  self->can_continue = can_continue;
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_CAN_CONTINUE]);
}

static void
set_cut(VfMessage *self, gboolean cut)
{
  if (self->cut == cut)
    return;
  self->cut = cut;
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_CUT]);
}

static void
set_state(VfMessage *self, VfMessageState state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_STATE]);
}

void
vf_message_set_stage(VfMessage *self, const char *stage, double fraction)
{
  g_return_if_fail(self->role == VF_MESSAGE_ASSISTANT);
  if (g_strcmp0(self->stage, stage) != 0) {
    g_free(self->stage);
    self->stage = g_strdup(stage);
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_STAGE]);
  }
  if (self->stage_fraction != fraction) {
    self->stage_fraction = fraction;
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_STAGE_FRACTION]);
  }
}

void
vf_message_append_text(VfMessage *self, const char *piece)
{
  g_return_if_fail(self->role == VF_MESSAGE_ASSISTANT);
  gint64 now = g_get_monotonic_time();
  if (self->first_piece_time == 0) {
    self->first_piece_time = now;
    self->tokens_before_first_piece = self->tokens;
  }
  g_string_append(self->text, piece);
  /* The engine hands over one piece per decoded token that completed a character: close to tokens/s. */
  self->tokens++;
  guint this_turn = self->tokens - self->tokens_before_first_piece;
  if (this_turn > 1 && now > self->first_piece_time)
    self->tokens_per_second = (this_turn - 1) / ((now - self->first_piece_time) / 1e6);
  set_state(self, VF_MESSAGE_STREAMING);
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TEXT]);
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TOKENS]);
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TOKENS_PER_SECOND]);
}

void
vf_message_finish(VfMessage *self, const VfTurnStats *stats)
{
  g_return_if_fail(self->role == VF_MESSAGE_ASSISTANT);
  /* The exact counts replace the estimates; the end-of-turn token is not part of the answer. */
  guint generated = stats->generated_tokens + (self->continuing ? self->continued_tokens : 0);
  double seconds = stats->decode_seconds + (self->continuing ? self->continued_seconds : 0);
  self->continuing = FALSE;
  self->tokens = generated - (stats->finished_with_eos ? 1 : 0);
  self->tokens_per_second = generated > 1 && seconds > 0 ? (generated - 1) / seconds : 0;
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TOKENS]);
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TOKENS_PER_SECOND]);
  set_cut(self, stats->stop_reason == VF_STOP_TOKEN_LIMIT);
  set_state(self, stats->stopped ? VF_MESSAGE_STOPPED : VF_MESSAGE_DONE);
}

void
vf_message_continue(VfMessage *self)
{
  g_return_if_fail(self->role == VF_MESSAGE_ASSISTANT && !self->continuing);
  self->continuing = TRUE;
  self->continued_len = self->text->len;
  self->continued_tokens = self->tokens;
  /* The decode time behind the rate shown: (tokens − 1) / rate. */
  self->continued_seconds = self->tokens > 1 && self->tokens_per_second > 0
                              ? (self->tokens - 1) / self->tokens_per_second
                              : 0;
  self->continued_state = self->state;
  self->first_piece_time = 0;
  set_cut(self, FALSE);
  vf_message_set_can_continue(self, FALSE);
  vf_message_set_stage(self, "Waiting for the model", -1);
  set_state(self, VF_MESSAGE_STREAMING);
}

void
vf_message_undo_continue(VfMessage *self)
{
  g_return_if_fail(self->continuing);
  self->continuing = FALSE;
  g_string_truncate(self->text, self->continued_len);
  self->tokens = self->continued_tokens;
  self->tokens_per_second = self->continued_tokens > 1 && self->continued_seconds > 0
                              ? (self->continued_tokens - 1) / self->continued_seconds
                              : 0;
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TEXT]);
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TOKENS]);
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TOKENS_PER_SECOND]);
  set_cut(self, TRUE);
  set_state(self, self->continued_state);
}

char *
vf_message_describe_progress(VfMessage *self)
{
  if (self->role != VF_MESSAGE_ASSISTANT || self->state == VF_MESSAGE_WAITING)
    return g_strdup("");
  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "%u %s", self->tokens, self->tokens == 1 ? "token" : "tokens");
  if (self->tokens_per_second > 0)
    g_string_append_printf(s, " · %.1f tokens/s", self->tokens_per_second);
  return g_string_free(s, FALSE);
}

static void
vf_message_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VfMessage *self = VF_MESSAGE(object);
  switch (prop_id) {
  case PROP_ROLE:
    g_value_set_int(value, self->role);
    break;
  case PROP_TEXT:
    g_value_set_string(value, self->text->str);
    break;
  case PROP_ATTACHMENTS:
    g_value_set_object(value, self->attachments);
    break;
  case PROP_STATE:
    g_value_set_int(value, self->state);
    break;
  case PROP_STAGE:
    g_value_set_string(value, self->stage);
    break;
  case PROP_STAGE_FRACTION:
    g_value_set_double(value, self->stage_fraction);
    break;
  case PROP_TOKENS:
    g_value_set_uint(value, self->tokens);
    break;
  case PROP_TOKENS_PER_SECOND:
    g_value_set_double(value, self->tokens_per_second);
    break;
  case PROP_CUT:
    g_value_set_boolean(value, self->cut);
    break;
  case PROP_CAN_CONTINUE:
    g_value_set_boolean(value, self->can_continue);
    break;
  case PROP_ID:
    g_value_set_uint64(value, self->id);
    break;
  case PROP_LAST_ANSWER:
    g_value_set_boolean(value, self->last_answer);
    break;
  case PROP_ALTERNATIVES:
    g_value_set_uint(value, self->n_alternatives);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_message_finalize(GObject *object)
{
  VfMessage *self = VF_MESSAGE(object);
  g_string_free(self->text, TRUE);
  g_object_unref(self->attachments);
  g_free(self->stage);
  G_OBJECT_CLASS(vf_message_parent_class)->finalize(object);
}

static void
vf_message_class_init(VfMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  object_class->get_property = vf_message_get_property;
  object_class->finalize = vf_message_finalize;

  GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  properties[PROP_ROLE] = g_param_spec_int("role", NULL, NULL, VF_MESSAGE_USER, VF_MESSAGE_ASSISTANT,
                                           VF_MESSAGE_USER, ro);
  properties[PROP_TEXT] = g_param_spec_string("text", NULL, NULL, "", ro);
  properties[PROP_ATTACHMENTS] = g_param_spec_object("attachments", NULL, NULL, G_TYPE_LIST_MODEL, ro);
  properties[PROP_STATE] = g_param_spec_int("state", NULL, NULL, VF_MESSAGE_WAITING, VF_MESSAGE_STOPPED,
                                            VF_MESSAGE_DONE, ro);
  properties[PROP_STAGE] = g_param_spec_string("stage", NULL, NULL, NULL, ro);
  properties[PROP_STAGE_FRACTION] = g_param_spec_double("stage-fraction", NULL, NULL, -1, 1, -1, ro);
  properties[PROP_TOKENS] = g_param_spec_uint("tokens", NULL, NULL, 0, G_MAXUINT, 0, ro);
  properties[PROP_TOKENS_PER_SECOND] = g_param_spec_double("tokens-per-second", NULL, NULL, 0, G_MAXDOUBLE, 0, ro);
  properties[PROP_CUT] = g_param_spec_boolean("cut", NULL, NULL, FALSE, ro);
  properties[PROP_CAN_CONTINUE] = g_param_spec_boolean("can-continue", NULL, NULL, FALSE, ro);
  properties[PROP_ID] = g_param_spec_uint64("id", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  properties[PROP_LAST_ANSWER] = g_param_spec_boolean("last-answer", NULL, NULL, FALSE, ro);
  /* Notified when the index or the count changes; its value is the count. */
  properties[PROP_ALTERNATIVES] = g_param_spec_uint("alternatives", NULL, NULL, 1, G_MAXUINT, 1, ro);
  g_object_class_install_properties(object_class, N_PROPS, properties);
}

static void
vf_message_init(VfMessage *self)
{
  self->text = g_string_new(NULL);
  self->attachments = g_list_store_new(VF_TYPE_ATTACHMENT);
  self->stage_fraction = -1;
  self->n_alternatives = 1;
}
