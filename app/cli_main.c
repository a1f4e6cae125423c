/* viewfinder-cli: the command line over the engine.
 *
 *   viewfinder-cli devices          list Vulkan devices and describe the chosen one
 *   viewfinder-cli bench ops        time the matmul ops on the model's shapes against the memory roofline
 */
#define G_LOG_DOMAIN "viewfinder-cli"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "bench_ops.h"
#include "vf_ops.h"

static int
cmd_devices(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *list = vf_device_list(&error);
  if (!list) {
    fprintf(stderr, "viewfinder-cli: %s\n", error->message);
    return 1;
  }
  printf("Vulkan devices:\n%s", list);
  VfDevice *dev = vf_device_create(NULL, &error);
  if (!dev) {
    fprintf(stderr, "viewfinder-cli: %s\n", error->message);
    return 1;
  }
  printf("chosen: %s\n", vf_device_get_info(dev)->summary);
  printf("%s\n", vf_ops_policy_summary(dev));
  vf_device_print_switches(stdout);
  vf_device_free(dev);
  return 0;
}

static int
cmd_bench(int argc, char **argv)
{
  if (argc >= 2 && strcmp(argv[1], "ops") == 0)
    return vf_bench_ops(argc - 1, argv + 1);
  fprintf(stderr, "usage: viewfinder-cli bench ops [--quick] [--all-variants] [--crossover]\n");
  return 2;
}

static void
usage(FILE *out)
{
  fprintf(out,
          "usage: viewfinder-cli COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  devices     list Vulkan devices and describe the one Viewfinder would use\n"
          "  bench ops [--quick] [--all-variants] [--crossover]\n"
          "              time the matmul ops on the Qwen2-VL shapes next to the memory read roofline\n"
          "\n"
          "environment: VF_DEVICE=index|name  VF_VALIDATE=1  VF_PROFILE=1  VF_KERNELS=gpu|cpu\n");
}

int
main(int argc, char **argv)
{
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "devices") == 0)
    return cmd_devices(argc - 1, argv + 1);
  if (strcmp(argv[1], "bench") == 0)
    return cmd_bench(argc - 1, argv + 1);
  fprintf(stderr, "viewfinder-cli: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
