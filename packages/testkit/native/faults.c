// Fault injection for strongroom's tests: an LD_PRELOAD shim that makes the Nth call of a
// system function fail with a chosen errno, counting only the calls that one module (by
// default the strongroom addon) makes, so Node's own thousands of mmap and read calls are
// never touched. The same file is also a Node-API module: a child started with
// LD_PRELOAD=faults.node loads it again with process.dlopen to control it (the loader
// returns the already-loaded library).
//
//   faults.watch(module)              count calls from a module (a file-name substring); reset
//   faults.fail(name, nth, errno, every)  the nth counted call of name fails (every: and all later)
//   faults.counts()                   { mmap: n, ... } since watch()
//   faults.stop()                     count nothing, fail nothing
//   faults.selfTest(name)             one call of name made from this module (for testkit's own tests)
//
// Interposed: mmap (and mmap64, which libsodium's Argon2 calls, counted as mmap), mprotect, mlock, madvise, ftruncate, read, getrandom, pthread_create and
// syscall (for memfd_secret and getrandom made through it). pthread_create is attributed to
// the module when the caller is the module or libstdc++ (std::thread starts threads there).
// `new` is C++'s operator new and new[] called from the module's own code (a std::string's
// buffer is allocated inside libstdc++ and is not counted): a failing one asks libstdc++'s
// operator new for SIZE_MAX bytes, so that it throws std::bad_alloc itself (C cannot throw);
// the exception unwinds through this file's frames (built with -fexceptions).
// Test-only code: never built into or shipped with a strongroom package.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <node_api.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

enum Call { MMAP, MPROTECT, MLOCK, MADVISE, MEMFD_SECRET, FTRUNCATE, READ, GETRANDOM, PTHREAD_CREATE, NEW, CALLS };
static const char* const kNames[CALLS] = {"mmap",      "mprotect", "mlock",     "madvise",        "memfd_secret",
                                          "ftruncate", "read",     "getrandom", "pthread_create", "new"};

static int g_watching;                       // counting enabled
static char g_module[128] = "strongroom.node";
static long g_counts[CALLS];
static long g_fail_at[CALLS];  // 0: never
static int g_fail_errno[CALLS];
static int g_fail_every[CALLS];

static int FromModule(void* caller, int call) {
  Dl_info info;
  if (caller == NULL || !dladdr(caller, &info) || info.dli_fname == NULL) return 0;
  if (strstr(info.dli_fname, g_module) != NULL) return 1;
  return call == PTHREAD_CREATE && strstr(info.dli_fname, "libstdc++") != NULL;
}

// Whether this call should fail; sets errno when it should.
static int ShouldFail(int call, void* caller) {
  if (!__atomic_load_n(&g_watching, __ATOMIC_ACQUIRE) || !FromModule(caller, call)) return 0;
  long n = __atomic_add_fetch(&g_counts[call], 1, __ATOMIC_RELAXED);
  long at = g_fail_at[call];
  if (at == 0 || (g_fail_every[call] ? n < at : n != at)) return 0;
  errno = g_fail_errno[call];
  return 1;
}

#define CALLER __builtin_return_address(0)

static void* Next(const char* name) { return dlsym(RTLD_NEXT, name); }

void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  static void* (*real)(void*, size_t, int, int, int, off_t);
  if (ShouldFail(MMAP, CALLER)) return MAP_FAILED;
  if (real == NULL) real = (void* (*)(void*, size_t, int, int, int, off_t))Next("mmap");
  return real(addr, length, prot, flags, fd, offset);
}

// Code built with large-file support (libsodium) links mmap64, which glibc does not route
// through mmap: interposed too, and counted as mmap.
void* mmap64(void* addr, size_t length, int prot, int flags, int fd, off64_t offset) {
  static void* (*real)(void*, size_t, int, int, int, off64_t);
  if (ShouldFail(MMAP, CALLER)) return MAP_FAILED;
  if (real == NULL) real = (void* (*)(void*, size_t, int, int, int, off64_t))Next("mmap64");
  return real(addr, length, prot, flags, fd, offset);
}

int mprotect(void* addr, size_t length, int prot) {
  static int (*real)(void*, size_t, int);
  if (ShouldFail(MPROTECT, CALLER)) return -1;
  if (real == NULL) real = (int (*)(void*, size_t, int))Next("mprotect");
  return real(addr, length, prot);
}

int mlock(const void* addr, size_t length) {
  static int (*real)(const void*, size_t);
  if (ShouldFail(MLOCK, CALLER)) return -1;
  if (real == NULL) real = (int (*)(const void*, size_t))Next("mlock");
  return real(addr, length);
}

int madvise(void* addr, size_t length, int advice) {
  static int (*real)(void*, size_t, int);
  if (ShouldFail(MADVISE, CALLER)) return -1;
  if (real == NULL) real = (int (*)(void*, size_t, int))Next("madvise");
  return real(addr, length, advice);
}

int ftruncate(int fd, off_t length) {
  static int (*real)(int, off_t);
  if (ShouldFail(FTRUNCATE, CALLER)) return -1;
  if (real == NULL) real = (int (*)(int, off_t))Next("ftruncate");
  return real(fd, length);
}

ssize_t read(int fd, void* buffer, size_t count) {
  static ssize_t (*real)(int, void*, size_t);
  if (ShouldFail(READ, CALLER)) return -1;
  if (real == NULL) real = (ssize_t (*)(int, void*, size_t))Next("read");
  return real(fd, buffer, count);
}

ssize_t getrandom(void* buffer, size_t length, unsigned int flags) {
  static ssize_t (*real)(void*, size_t, unsigned int);
  if (ShouldFail(GETRANDOM, CALLER)) return -1;
  if (real == NULL) real = (ssize_t (*)(void*, size_t, unsigned int))Next("getrandom");
  return real(buffer, length, flags);
}

int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
  static int (*real)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  if (ShouldFail(PTHREAD_CREATE, CALLER)) return errno;  // pthread_create returns the error
  if (real == NULL) real = (int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*))Next("pthread_create");
  return real(thread, attr, start, arg);
}

// operator new(size_t) and operator new[](size_t), by their Itanium ABI names.
void* _Znwm(size_t size) {
  static void* (*real)(size_t);
  if (ShouldFail(NEW, CALLER)) size = SIZE_MAX;
  if (real == NULL) real = (void* (*)(size_t))Next("_Znwm");
  return real(size);
}

void* _Znam(size_t size) {
  static void* (*real)(size_t);
  if (ShouldFail(NEW, CALLER)) size = SIZE_MAX;
  if (real == NULL) real = (void* (*)(size_t))Next("_Znam");
  return real(size);
}

long syscall(long number, ...) {
  static long (*real)(long, ...);
  va_list args;
  va_start(args, number);
  long a[6];
  for (int i = 0; i < 6; i++) a[i] = va_arg(args, long);  // as glibc's own syscall() reads them
  va_end(args);
  if (number == SYS_memfd_secret && ShouldFail(MEMFD_SECRET, CALLER)) return -1;
  if (number == SYS_getrandom && ShouldFail(GETRANDOM, CALLER)) return -1;
  if (real == NULL) real = (long (*)(long, ...))Next("syscall");
  return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

// ---- the Node-API face ----

static int CallIndex(napi_env env, napi_value value) {
  char name[32];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, name, sizeof name, &length) != napi_ok) return -1;
  for (int i = 0; i < CALLS; i++) {
    if (strcmp(name, kNames[i]) == 0) return i;
  }
  return -1;
}

static napi_value Fail(napi_env env, const char* message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static void Reset(void) {
  for (int i = 0; i < CALLS; i++) g_counts[i] = g_fail_at[i] = g_fail_errno[i] = g_fail_every[i] = 0;
}

static napi_value Watch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  __atomic_store_n(&g_watching, 0, __ATOMIC_RELEASE);
  Reset();
  if (argc >= 1) {
    size_t length = 0;
    napi_valuetype type;
    napi_typeof(env, argv[0], &type);
    if (type == napi_string && napi_get_value_string_utf8(env, argv[0], g_module, sizeof g_module, &length) != napi_ok) {
      return Fail(env, "faults.watch(module): module must be a string");
    }
  }
  __atomic_store_n(&g_watching, 1, __ATOMIC_RELEASE);
  return NULL;
}

// (name, nth, errno, every)
static napi_value FailAt(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return Fail(env, "faults.fail(name, nth, errno, every?)");
  int call = CallIndex(env, argv[0]);
  int64_t nth = 0;
  int32_t err = 0;
  bool every = false;
  if (call < 0) return Fail(env, "faults.fail: unknown call name");
  if (napi_get_value_int64(env, argv[1], &nth) != napi_ok || nth < 1) return Fail(env, "faults.fail: nth must be >= 1");
  if (napi_get_value_int32(env, argv[2], &err) != napi_ok || err <= 0) return Fail(env, "faults.fail: errno must be > 0");
  if (argc >= 4) napi_get_value_bool(env, argv[3], &every);
  g_fail_at[call] = nth;
  g_fail_errno[call] = err;
  g_fail_every[call] = every;
  return NULL;
}

static napi_value Counts(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_object(env, &out);
  for (int i = 0; i < CALLS; i++) {
    napi_value n;
    napi_create_int64(env, __atomic_load_n(&g_counts[i], __ATOMIC_RELAXED), &n);
    napi_set_named_property(env, out, kNames[i], n);
  }
  return out;
}

static napi_value Stop(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  __atomic_store_n(&g_watching, 0, __ATOMIC_RELEASE);
  Reset();
  return NULL;
}

// (name): one call of name from this module; returns -1 on failure and 0 on success.
static napi_value SelfTest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int call = argc < 1 ? -1 : CallIndex(env, argv[0]);
  int result = 0;
  if (call == MMAP) {
    void* p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    result = p == MAP_FAILED ? -1 : munmap(p, 4096);
  } else if (call == GETRANDOM) {
    char byte;
    result = getrandom(&byte, 1, 0) == 1 ? 0 : -1;
  } else {
    return Fail(env, "faults.selfTest: only mmap and getrandom");
  }
  napi_value out;
  napi_create_int32(env, result == 0 ? 0 : errno, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"watch", NULL, Watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fail", NULL, FailAt, NULL, NULL, NULL, napi_enumerable, NULL},
      {"counts", NULL, Counts, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stop", NULL, Stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"selfTest", NULL, SelfTest, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}
