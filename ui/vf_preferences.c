/* The preferences window. See vf_preferences.h. */
#define G_LOG_DOMAIN "vf-preferences"

#include "vf_preferences.h"

struct _VfPreferences {
  AdwPreferencesWindow parent_instance;

  AdwPreferencesGroup *sampling_group;
  GtkSpinButton *max_new_tokens, *temperature, *top_k, *top_p, *repetition_penalty, *seed, *context;
  GtkSpinButton *picture_min_tokens, *picture_max_tokens;
  GtkSwitch *label_media, *sample_as_model;
  AdwEntryRow *system_prompt;
  GtkWidget *temperature_row, *top_k_row, *top_p_row, *repetition_penalty_row, *seed_row;
};

G_DEFINE_FINAL_TYPE(VfPreferences, vf_preferences, ADW_TYPE_PREFERENCES_WINDOW)

/* "Greedy (always the most likely token)" or "temperature 0.01 · top-k 1 · top-p 0.001". */
static char *
describe_sampling(const VfEngineSampling *s)
{
  if (!s->do_sample)
    return g_strdup("greedy decoding (always the most likely token)");
  GString *text = g_string_new(NULL);
  g_string_append_printf(text, "temperature %g", s->temperature);
  if (s->top_k)
    g_string_append_printf(text, " · top-k %u", s->top_k);
  if (s->top_p < 1)
    g_string_append_printf(text, " · top-p %g", s->top_p);
  if (s->repetition_penalty != 1)
    g_string_append_printf(text, " · repetition penalty %g", s->repetition_penalty);
  return g_string_free(text, FALSE);
}

GtkWidget *
vf_preferences_new(GtkWindow *parent, GSettings *settings, const VfEngineModelInfo *model)
{
  VfPreferences *self = g_object_new(VF_TYPE_PREFERENCES, "transient-for", parent, "modal", TRUE, NULL);
  const struct {
    const char *key;
    gpointer widget;
    const char *property;
  } binds[] = {
    {"system-prompt", self->system_prompt, "text"},
    {"max-new-tokens", self->max_new_tokens, "value"},
    {"label-media", self->label_media, "active"},
    {"sample-as-model", self->sample_as_model, "active"},
    {"temperature", self->temperature, "value"},
    {"top-k", self->top_k, "value"},
    {"top-p", self->top_p, "value"},
    {"repetition-penalty", self->repetition_penalty, "value"},
    {"seed", self->seed, "value"},
    {"context", self->context, "value"},
    {"picture-min-tokens", self->picture_min_tokens, "value"},
    {"picture-max-tokens", self->picture_max_tokens, "value"},
  };
  for (guint i = 0; i < G_N_ELEMENTS(binds); i++)
    g_settings_bind(settings, binds[i].key, binds[i].widget, binds[i].property, G_SETTINGS_BIND_DEFAULT);
  /* The sampling rows are this window's choice only when the model's is not used. */
  GtkWidget *sampling_rows[] = {self->temperature_row, self->top_k_row, self->top_p_row, self->repetition_penalty_row,
                                self->seed_row};
  for (guint i = 0; i < G_N_ELEMENTS(sampling_rows); i++)
    g_settings_bind(settings, "sample-as-model", sampling_rows[i], "sensitive",
                    G_SETTINGS_BIND_GET | G_SETTINGS_BIND_INVERT_BOOLEAN);
  g_autofree char *asked = model ? describe_sampling(&model->model_sampling) : NULL;
  g_autofree char *description = model ? g_strdup_printf("%s asks for %s.", model->display_name, asked)
                                        : g_strdup("Open a model to see what it asks for.");
  adw_preferences_group_set_description(self->sampling_group, description);
  return GTK_WIDGET(self);
}

static void
vf_preferences_class_init(VfPreferencesClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  gtk_widget_class_set_template_from_resource(widget_class, "/org/viewfinder/Viewfinder/ui/vf_preferences.ui");
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, sampling_group);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, system_prompt);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, max_new_tokens);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, label_media);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, sample_as_model);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, temperature);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, top_k);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, top_p);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, repetition_penalty);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, seed);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, context);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, picture_min_tokens);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, picture_max_tokens);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, temperature_row);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, top_k_row);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, top_p_row);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, repetition_penalty_row);
  gtk_widget_class_bind_template_child(widget_class, VfPreferences, seed_row);
}

static void
vf_preferences_init(VfPreferences *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
}
