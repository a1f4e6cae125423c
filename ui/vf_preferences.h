/* VfPreferences: the preferences window. Every row is bound to a key of the app's GSettings (org.viewfinder.Viewfinder),
 * which the app passes on to the engine as it changes: the longest answer, labels, sampling (the model's own,
 * shown as such, or chosen here), the context size, and the default picture budget. */
#pragma once

#include <adwaita.h>

#include "vf_engine.h"

G_BEGIN_DECLS

#define VF_TYPE_PREFERENCES (vf_preferences_get_type())
G_DECLARE_FINAL_TYPE(VfPreferences, vf_preferences, VF, PREFERENCES, AdwPreferencesWindow)

/* model: the loaded model's info (its sampling defaults are shown), or NULL. */
GtkWidget *vf_preferences_new(GtkWindow *parent, GSettings *settings, const VfEngineModelInfo *model);

G_END_DECLS
