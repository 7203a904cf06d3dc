/* karapace_flock.node: flock(2) for Node, so the store lock dies with the
 * process. flock(fd, 'exclusive'|'shared'|'unlock', wait) -> boolean. */
#include <errno.h>
#include <string.h>
#include <sys/file.h>
#include "napi-errors.h"

static napi_value do_flock(napi_env env, napi_callback_info info)
{
    size_t argc = 3;
    napi_value argv[3];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
        return NULL;
    if (argc < 3)
        return throw_type(env, "flock(fd, mode, wait) takes 3 arguments");

    int32_t fd;
    char mode[16];
    size_t mode_len;
    bool wait;
    if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0)
        return throw_type(env, "fd must be a non-negative integer");
    if (napi_get_value_string_utf8(env, argv[1], mode, sizeof mode, &mode_len) != napi_ok)
        return throw_type(env, "mode must be 'exclusive', 'shared' or 'unlock'");
    if (napi_get_value_bool(env, argv[2], &wait) != napi_ok)
        return throw_type(env, "wait must be a boolean");

    int op;
    if (strcmp(mode, "exclusive") == 0)
        op = LOCK_EX;
    else if (strcmp(mode, "shared") == 0)
        op = LOCK_SH;
    else if (strcmp(mode, "unlock") == 0)
        op = LOCK_UN;
    else
        return throw_type(env, "mode must be 'exclusive', 'shared' or 'unlock'");
    if (!wait)
        op |= LOCK_NB;

    int r;
    do
        r = flock(fd, op);
    while (r < 0 && errno == EINTR);

    napi_value result;
    if (r == 0 || errno == EWOULDBLOCK) {
        napi_get_boolean(env, r == 0, &result);
        return result;
    }
    return throw_system(env, errno, "flock", NULL);
}

NAPI_MODULE_INIT()
{
    napi_value fn;
    if (napi_create_function(env, "flock", NAPI_AUTO_LENGTH, do_flock, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, "flock", fn) != napi_ok)
        return NULL;
    return exports;
}
