/* karapace_flock.node: flock(2) for Node, so the store lock dies with the
 * process. flock(fd, 'exclusive'|'shared'|'unlock', wait) -> boolean. */
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

static napi_value throw_type(napi_env env, const char *msg)
{
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
}

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
    /* An Error shaped like Node's own system errors: message, code, errno. */
    int errsv = errno;
    const char *name = strerrorname_np(errsv);
    char msg[160];
    napi_value code, message, err, num, sys;
    snprintf(msg, sizeof msg, "flock: %s", strerror(errsv));
    napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &err);
    napi_create_int32(env, -errsv, &num);
    napi_set_named_property(env, err, "errno", num);
    napi_create_string_utf8(env, "flock", NAPI_AUTO_LENGTH, &sys);
    napi_set_named_property(env, err, "syscall", sys);
    napi_throw(env, err);
    return NULL;
}

NAPI_MODULE_INIT()
{
    napi_value fn;
    if (napi_create_function(env, "flock", NAPI_AUTO_LENGTH, do_flock, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, "flock", fn) != napi_ok)
        return NULL;
    return exports;
}
