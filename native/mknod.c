/* karapace_mknod.node: mknod(2) for Node (which has none), so unpacking a rootfs or an
 * upper dir creates device nodes and overlay whiteouts without running mknod(1) for each.
 * mknod(path, type 'c'|'b'|'p', major, minor, mode) -> undefined; throws errors shaped
 * like Node's own (code, errno, syscall, path). The mode is set exactly (no umask). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "napi-errors.h"

static napi_value do_mknod(napi_env env, napi_callback_info info)
{
    size_t argc = 5;
    napi_value argv[5];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
        return NULL;
    if (argc < 5)
        return throw_type(env, "mknod(path, type, major, minor, mode) takes 5 arguments");

    char path[PATH_MAX];
    size_t path_len;
    char type[4];
    size_t type_len;
    uint32_t major, minor, mode;
    if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok || path_len == 0 ||
        path_len >= sizeof path - 1)
        return throw_type(env, "path must be a non-empty string shorter than PATH_MAX");
    if (napi_get_value_string_utf8(env, argv[1], type, sizeof type, &type_len) != napi_ok || type_len != 1)
        return throw_type(env, "type must be 'c', 'b' or 'p'");
    if (napi_get_value_uint32(env, argv[2], &major) != napi_ok || napi_get_value_uint32(env, argv[3], &minor) != napi_ok ||
        napi_get_value_uint32(env, argv[4], &mode) != napi_ok)
        return throw_type(env, "major, minor and mode must be non-negative integers");

    mode_t kind;
    if (type[0] == 'c')
        kind = S_IFCHR;
    else if (type[0] == 'b')
        kind = S_IFBLK;
    else if (type[0] == 'p')
        kind = S_IFIFO;
    else
        return throw_type(env, "type must be 'c', 'b' or 'p'");

    if (mknodat(AT_FDCWD, path, kind | (mode & 07777), kind == S_IFIFO ? 0 : makedev(major, minor)) < 0)
        return throw_system(env, errno, "mknod", path);
    /* mknod(2) applies the umask; the archive's mode is what we want. A device node is
     * never a symlink, and it was just made in a directory the caller owns. */
    if (fchmodat(AT_FDCWD, path, mode & 07777, 0) < 0)
        return throw_system(env, errno, "chmod", path);
    return NULL;
}

NAPI_MODULE_INIT()
{
    napi_value fn;
    if (napi_create_function(env, "mknod", NAPI_AUTO_LENGTH, do_mknod, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, "mknod", fn) != napi_ok)
        return NULL;
    return exports;
}
