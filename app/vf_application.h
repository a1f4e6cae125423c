/* VfApplication: the `viewfinder` desktop app. Owns the engine (one worker thread per process) and the
 * settings, makes the window, and picks the first page: the model given with --model, else the last
 * model used, else the welcome page.
 *
 *   viewfinder [--model DIR] [--tokenizer DIR] [--max-new-tokens N] [--context N]
 *
 * Hidden options for tests: --test-actions adds the app actions "test-drop" (as: feeds files to the
 * window's drop handler) and "test-dump" (prints the window's state as "DUMP {json}" on stdout);
 * --exit-after-startup quits once the window has been shown. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define VF_APPLICATION_ID "org.viewfinder.Viewfinder"

#define VF_TYPE_APPLICATION (vf_application_get_type())
G_DECLARE_FINAL_TYPE(VfApplication, vf_application, VF, APPLICATION, AdwApplication)

VfApplication *vf_application_new(void);

G_END_DECLS
