/* blake3 for kernel/src/hash.ts: a one-shot hash and an incremental hasher, from BLAKE3's
 * reference C implementation (already linked into the untar and fingerprint addons). It
 * replaces loading @napi-rs/blake-hash on the first hash of every command (issues 18, 19);
 * that package stays the reference and the fallback (test/kernel/hash-native.test.ts).
 *
 * The hasher's state lives in a Buffer the caller allocates (`hasherSize` bytes): no wrapped
 * object or finalizer. Inputs are a string (hashed as UTF-8) or any Uint8Array; digests are
 * 64 lowercase hex characters. */
#include <errno.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include "blake3.h"
#include "napi-errors.h"

static void to_hex(const uint8_t out[BLAKE3_OUT_LEN], char hex[2 * BLAKE3_OUT_LEN])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < BLAKE3_OUT_LEN; i++) {
        hex[2 * i] = digits[out[i] >> 4];
        hex[2 * i + 1] = digits[out[i] & 15];
    }
}

/* Feeds `value` (a string or a Uint8Array) to `h`; 0 after throwing a TypeError. */
static int update_with(napi_env env, blake3_hasher *h, napi_value value)
{
    napi_valuetype type;
    if (napi_typeof(env, value, &type) != napi_ok)
        return 0;
    if (type == napi_string) {
        char small[4096];
        size_t len;
        if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok)
            return 0;
        char *buf = len < sizeof small ? small : malloc(len + 1);
        if (!buf) {
            throw_system(env, ENOMEM, "malloc", NULL);
            return 0;
        }
        napi_get_value_string_utf8(env, value, buf, len + 1, &len);
        blake3_hasher_update(h, buf, len);
        if (buf != small)
            free(buf);
        return 1;
    }
    bool is_typed;
    napi_typedarray_type ta;
    size_t len;
    void *data;
    if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
        napi_get_typedarray_info(env, value, &ta, &len, &data, NULL, NULL) != napi_ok || ta != napi_uint8_array) {
        throw_type(env, "blake3: expected a string or a Uint8Array");
        return 0;
    }
    blake3_hasher_update(h, data, len);
    return 1;
}

static napi_value digest_of(napi_env env, const blake3_hasher *h)
{
    uint8_t out[BLAKE3_OUT_LEN];
    char hex[2 * BLAKE3_OUT_LEN];
    napi_value result;
    blake3_hasher_finalize(h, out, sizeof out);
    to_hex(out, hex);
    napi_create_string_latin1(env, hex, sizeof hex, &result);
    return result;
}

/* The hasher's state, a Buffer of hasherSize bytes; NULL after throwing. */
static blake3_hasher *state_of(napi_env env, napi_value value)
{
    bool is_buffer;
    void *data;
    size_t len;
    if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer ||
        napi_get_buffer_info(env, value, &data, &len) != napi_ok || len < sizeof(blake3_hasher)) {
        throw_type(env, "blake3: expected a hasher state Buffer of hasherSize bytes");
        return NULL;
    }
    return data;
}

/* hash(data): the hex digest of a string or Uint8Array. */
static napi_value hash(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 1)
        return throw_type(env, "blake3.hash(data)");
    blake3_hasher h;
    blake3_hasher_init(&h);
    if (!update_with(env, &h, argv[0]))
        return NULL;
    return digest_of(env, &h);
}

/* init(state): starts a hash in the state Buffer. */
static napi_value init(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    blake3_hasher *h = argc < 1 ? (throw_type(env, "blake3.init(state)"), NULL) : state_of(env, argv[0]);
    if (h)
        blake3_hasher_init(h);
    return NULL;
}

/* update(state, data) */
static napi_value update(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 2)
        return throw_type(env, "blake3.update(state, data)");
    blake3_hasher *h = state_of(env, argv[0]);
    if (h)
        update_with(env, h, argv[1]);
    return NULL;
}

/* updateAsync(state, data, callback): update() on libuv's thread pool, so a pull hashes a
 * download there while the main thread hashes and unpacks the tar it goes into. `data` is a
 * Uint8Array; both Buffers are held until `callback()` runs, and the caller leaves them alone
 * until then (kernel/src/hash.ts StreamHasher.updateAsync). */
struct async_update {
    napi_async_work work;
    napi_ref state, data, callback;
    blake3_hasher *h;
    const void *bytes;
    size_t len;
};

static void async_execute(napi_env env, void *arg)
{
    (void)env;
    struct async_update *u = arg;
    blake3_hasher_update(u->h, u->bytes, u->len);
}

static void async_complete(napi_env env, napi_status status, void *arg)
{
    struct async_update *u = arg;
    napi_value cb, global;
    if (napi_get_reference_value(env, u->callback, &cb) == napi_ok && napi_get_global(env, &global) == napi_ok) {
        napi_value err = NULL;
        if (status != napi_ok) {
            napi_value msg;
            napi_create_string_utf8(env, "blake3.updateAsync: the work did not run", NAPI_AUTO_LENGTH, &msg);
            napi_create_error(env, NULL, msg, &err);
        }
        napi_value argv[1];
        size_t argc = 0;
        if (err) argv[argc++] = err;
        napi_call_function(env, global, cb, argc, argv, NULL);
    }
    napi_delete_reference(env, u->state);
    napi_delete_reference(env, u->data);
    napi_delete_reference(env, u->callback);
    napi_delete_async_work(env, u->work);
    free(u);
}

static napi_value update_async(napi_env env, napi_callback_info info)
{
    size_t argc = 3;
    napi_value argv[3];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 3)
        return throw_type(env, "blake3.updateAsync(state, data, callback)");
    blake3_hasher *h = state_of(env, argv[0]);
    if (!h)
        return NULL;
    bool is_typed;
    napi_typedarray_type ta;
    size_t len;
    void *data;
    if (napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
        napi_get_typedarray_info(env, argv[1], &ta, &len, &data, NULL, NULL) != napi_ok || ta != napi_uint8_array)
        return throw_type(env, "blake3.updateAsync: expected a Uint8Array");
    napi_valuetype type;
    if (napi_typeof(env, argv[2], &type) != napi_ok || type != napi_function)
        return throw_type(env, "blake3.updateAsync: expected a callback");
    struct async_update *u = calloc(1, sizeof *u);
    if (!u)
        return throw_system(env, ENOMEM, "malloc", NULL);
    u->h = h;
    u->bytes = data;
    u->len = len;
    napi_value name;
    napi_create_string_utf8(env, "karapace_blake3_update", NAPI_AUTO_LENGTH, &name);
    if (napi_create_reference(env, argv[0], 1, &u->state) != napi_ok || napi_create_reference(env, argv[1], 1, &u->data) != napi_ok ||
        napi_create_reference(env, argv[2], 1, &u->callback) != napi_ok ||
        napi_create_async_work(env, NULL, name, async_execute, async_complete, u, &u->work) != napi_ok ||
        napi_queue_async_work(env, u->work) != napi_ok) {
        if (u->state) napi_delete_reference(env, u->state);
        if (u->data) napi_delete_reference(env, u->data);
        if (u->callback) napi_delete_reference(env, u->callback);
        if (u->work) napi_delete_async_work(env, u->work);
        free(u);
        return throw_type(env, "blake3.updateAsync: could not queue the work");
    }
    return NULL;
}

/* digest(state): the hex digest of what was fed so far (the state can take more). */
static napi_value digest(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    blake3_hasher *h = argc < 1 ? (throw_type(env, "blake3.digest(state)"), NULL) : state_of(env, argv[0]);
    return h ? digest_of(env, h) : NULL;
}

NAPI_MODULE_INIT()
{
    napi_property_descriptor props[] = {
        { "hash", NULL, hash, NULL, NULL, NULL, napi_enumerable, NULL },
        { "init", NULL, init, NULL, NULL, NULL, napi_enumerable, NULL },
        { "update", NULL, update, NULL, NULL, NULL, napi_enumerable, NULL },
        { "digest", NULL, digest, NULL, NULL, NULL, napi_enumerable, NULL },
        { "updateAsync", NULL, update_async, NULL, NULL, NULL, napi_enumerable, NULL },
    };
    napi_value size;
    napi_create_uint32(env, sizeof(blake3_hasher), &size);
    napi_define_properties(env, exports, sizeof props / sizeof *props, props);
    napi_set_named_property(env, exports, "hasherSize", size);
    return exports;
}
