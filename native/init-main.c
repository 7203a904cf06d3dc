/* karapace-init: the --init mode alone, linked statically so it runs inside
 * any image (no libc of the host needed). Same argv as after --init. */
#include "init.h"

int main(int argc, char **argv)
{
    (void)argc;
    return init_main(argv + 1);
}
