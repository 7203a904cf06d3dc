/* karapace_unpack.node: one call per file for the tar unpacker's threads
 * (kernel/src/layers/unpack-worker.ts), where Node needs five (open, read, write, fstat,
 * close, each with its own argument checks and objects):
 *
 *   writeFile(path, mode, src, offset, size, buf, uid, gid, chmod, out, outAt) -> undefined
 *
 * creates `path` (a Buffer, not NUL-terminated) exclusively, without following a symlink,
 * with `mode`; copies `size` bytes of descriptor `src` at `offset` into it through `buf`
 * (at least `size` bytes: the content is left there for the caller to hash); fchowns to
 * uid:gid when uid >= 0 and fchmods to `chmod` when >= 0; when `out` is a Buffer, writes
 * what fstat says at out[outAt..outAt+64] as eight little-endian doubles — mode, uid, gid,
 * size, ino, mtimeMs, ctimeMs, rdev, computed as Node computes its Stats — and closes the
 * file. Errors are shaped like Node's own; a short read (the source shrank) is an Error
 * with unpack-protocol.ts's SOURCE_SHRANK message. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "napi-errors.h"
#include "node-stat.h"


static int copy_in(int src, double offset, size_t size, int dst, char *buf, const char **syscall)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(src, buf + got, size - got, (off_t)offset + (off_t)got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *syscall = "read";
            return errno;
        }
        if (n == 0) {
            *syscall = NULL;
            return -1;
        }
        got += (size_t)n;
    }
    for (size_t put = 0; put < size;) {
        ssize_t n = write(dst, buf + put, size - put);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *syscall = "write";
            return errno;
        }
        put += (size_t)n;
    }
    return 0;
}

static napi_value write_file(napi_env env, napi_callback_info info)
{
    size_t argc = 11;
    napi_value argv[11];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
        return NULL;
    if (argc < 11)
        return throw_type(env, "writeFile(path, mode, src, offset, size, buf, uid, gid, chmod, out, outAt) takes 11 arguments");

    void *path_data, *buf_data, *out_data = NULL;
    size_t path_len, buf_len, out_len = 0;
    uint32_t mode, out_at;
    int32_t src, uid, gid, chmod_to;
    double offset, size;
    napi_valuetype out_type;
    if (napi_get_buffer_info(env, argv[0], &path_data, &path_len) != napi_ok || path_len == 0 || path_len >= PATH_MAX)
        return throw_type(env, "path must be a non-empty Buffer shorter than PATH_MAX");
    if (napi_get_value_uint32(env, argv[1], &mode) != napi_ok || napi_get_value_int32(env, argv[2], &src) != napi_ok ||
        napi_get_value_double(env, argv[3], &offset) != napi_ok || napi_get_value_double(env, argv[4], &size) != napi_ok ||
        napi_get_value_int32(env, argv[6], &uid) != napi_ok || napi_get_value_int32(env, argv[7], &gid) != napi_ok ||
        napi_get_value_int32(env, argv[8], &chmod_to) != napi_ok || napi_get_value_uint32(env, argv[10], &out_at) != napi_ok)
        return throw_type(env, "mode, src, offset, size, uid, gid, chmod and outAt must be numbers");
    if (napi_get_buffer_info(env, argv[5], &buf_data, &buf_len) != napi_ok || size < 0 || size > (double)buf_len || offset < 0)
        return throw_type(env, "buf must be a Buffer of at least size bytes");
    if (napi_typeof(env, argv[9], &out_type) != napi_ok)
        return NULL;
    if (out_type != napi_null && out_type != napi_undefined &&
        (napi_get_buffer_info(env, argv[9], &out_data, &out_len) != napi_ok || (size_t)out_at + 64 > out_len))
        return throw_type(env, "out must be null or a Buffer with 64 bytes at outAt");

    char path[PATH_MAX];
    memcpy(path, path_data, path_len);
    path[path_len] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
    if (fd < 0)
        return throw_system(env, errno, "open", path);

    const char *syscall = NULL;
    int err = copy_in(src, offset, (size_t)size, fd, buf_data, &syscall);
    struct stat st;
    if (!err && uid >= 0 && fchown(fd, (uid_t)uid, (gid_t)gid) < 0)
        err = errno, syscall = "fchown";
    if (!err && chmod_to >= 0 && fchmod(fd, (mode_t)chmod_to) < 0)
        err = errno, syscall = "fchmod";
    if (!err && out_data && fstat(fd, &st) < 0)
        err = errno, syscall = "fstat";
    if (close(fd) < 0 && !err)
        err = errno, syscall = "close";
    if (err == -1) {
        napi_throw_error(env, NULL, "the archive changed while it was being unpacked (it is shorter than it was)");
        return NULL;
    }
    if (err)
        return throw_system(env, err, syscall, path);
    if (out_data)
        put_node_stat((char *)out_data + out_at, &st);
    return NULL;
}

NAPI_MODULE_INIT()
{
    napi_value fn;
    if (napi_create_function(env, "writeFile", NAPI_AUTO_LENGTH, write_file, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, "writeFile", fn) != napi_ok)
        return NULL;
    return exports;
}
