/* Errors for native/'s N-API addons, shaped like Node's own: a TypeError for bad
 * arguments, and system errors with code, errno, syscall (and path, when there is one). */
#ifndef KARAPACE_NAPI_ERRORS_H
#define KARAPACE_NAPI_ERRORS_H

#include <limits.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>

static inline napi_value throw_type(napi_env env, const char *msg)
{
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
}

/* Throws errno `errsv` from `syscall` on `path` (NULL: none); returns NULL for the caller to return. */
static inline napi_value throw_system(napi_env env, int errsv, const char *syscall, const char *path)
{
    const char *name = strerrorname_np(errsv);
    char msg[PATH_MAX + 200];
    napi_value code, message, err, num, sys, p;
    if (path)
        snprintf(msg, sizeof msg, "%s: %s, %s '%s'", name ? name : "EUNKNOWN", strerror(errsv), syscall, path);
    else
        snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(errsv));
    napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &err);
    napi_create_int32(env, -errsv, &num);
    napi_set_named_property(env, err, "errno", num);
    napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
    napi_set_named_property(env, err, "syscall", sys);
    if (path) {
        napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &p);
        napi_set_named_property(env, err, "path", p);
    }
    napi_throw(env, err);
    return NULL;
}

#endif
