/* volk ships as a header plus volk.c (Debian's libvulkan-volk-dev has no
 * library): compile its implementation into the program here. */
#include <volk.c>
