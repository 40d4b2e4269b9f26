/* Test-only addon, never shipped: raw, unchecked memory access, so tests can overflow
 * and underflow a guarded region from native code the way a buggy addon or C library
 * would, and can hold a "leaked" view that strongroom does not know about. */
#include <node_api.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static uint8_t* address_arg(napi_env env, napi_value value) {
  uint64_t address = 0;
  bool lossless = false;
  napi_get_value_bigint_uint64(env, value, &address, &lossless);
  return (uint8_t*)(uintptr_t)address;
}

/* addressOf(view) -> bigint: the address of view[0] */
static napi_value address_of(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, buffer;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset);
  napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)data, &result);
  return result;
}

/* writeAt(address, offset, value) */
static napi_value write_at(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int64_t offset = 0;
  uint32_t value = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_value_int64(env, argv[1], &offset);
  napi_get_value_uint32(env, argv[2], &value);
  volatile uint8_t* p = address_arg(env, argv[0]);
  p[offset] = (uint8_t)value;
  return NULL;
}

/* readAt(address, offset) -> number */
static napi_value read_at(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  int64_t offset = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_value_int64(env, argv[1], &offset);
  volatile uint8_t* p = address_arg(env, argv[0]);
  napi_create_uint32(env, p[offset], &result);
  return result;
}

/* leakedView(address, length) -> Uint8Array that no detach will ever reach */
static napi_value leaked_view(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], buffer, result;
  uint32_t length = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_value_uint32(env, argv[1], &length);
  napi_create_external_arraybuffer(env, address_arg(env, argv[0]), length, NULL, NULL, &buffer);
  napi_create_typedarray(env, napi_uint8_array, length, buffer, 0, &result);
  return result;
}

/* forkRead(address, length <= 4096) -> { signal, bytes }: fork(); the child copies
 * `length` bytes at `address` and sends them back. What a forked child sees there. */
static napi_value fork_read(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result, value, buffer;
  uint32_t length = 0;
  int fds[2];
  uint8_t got[4096];
  size_t have = 0;
  int status = 0;
  void* data = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_value_uint32(env, argv[1], &length);
  if (length > sizeof got || pipe(fds) != 0) return NULL;
  uint8_t* at = address_arg(env, argv[0]);
  pid_t pid = fork();
  if (pid == 0) {
    uint8_t copy[4096];
    close(fds[0]);
    memcpy(copy, at, length); /* faults if the mapping is not in the child */
    ssize_t ignored = write(fds[1], copy, length);
    (void)ignored;
    _exit(0);
  }
  close(fds[1]);
  for (;;) {
    ssize_t n = read(fds[0], got + have, length - have);
    if (n <= 0) break;
    have += (size_t)n;
  }
  close(fds[0]);
  waitpid(pid, &status, 0);
  napi_create_object(env, &result);
  napi_create_int32(env, WIFSIGNALED(status) ? WTERMSIG(status) : 0, &value);
  napi_set_named_property(env, result, "signal", value);
  napi_create_arraybuffer(env, have, &data, &buffer);
  memcpy(data, got, have);
  napi_create_typedarray(env, napi_uint8_array, have, buffer, 0, &value);
  napi_set_named_property(env, result, "bytes", value);
  return result;
}

static void define(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

static napi_value init(napi_env env, napi_value exports) {
  define(env, exports, "addressOf", address_of);
  define(env, exports, "writeAt", write_at);
  define(env, exports, "readAt", read_at);
  define(env, exports, "leakedView", leaked_view);
  define(env, exports, "forkRead", fork_read);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
