/* The viewfinder desktop app. */
#define G_LOG_DOMAIN "viewfinder"

#include "vf_application.h"

int
main(int argc, char **argv)
{
  g_autoptr(VfApplication) app = vf_application_new();
  return g_application_run(G_APPLICATION(app), argc, argv);
}
