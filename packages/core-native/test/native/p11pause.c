/* Test-only PKCS#11 module, never shipped: forwards every call to the module named by
 * STRONGROOM_P11_REAL, except that C_Logout first waits: it creates <STRONGROOM_P11_PAUSE_DIR>/paused
 * and returns to the real C_Logout once <dir>/release exists. A test holds strongroom's
 * exchange there (after C_Decrypt, with the session open and the user logged in) to scan what
 * the real module keeps in the process's memory while it works. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef unsigned long CK_RV;
typedef void (*Fn)(void);
/* CK_FUNCTION_LIST of PKCS#11 v2.40: a CK_VERSION, then its 68 functions in the spec's order. */
struct FunctionList {
  unsigned char major, minor;
  Fn fns[68];
};
enum { kLogout = 19 };
#define CKR_GENERAL_ERROR 0x05UL

static struct FunctionList g_list;
static CK_RV (*g_real_logout)(unsigned long);

static int exists(const char* path) { return access(path, F_OK) == 0; }

static CK_RV PausedLogout(unsigned long session) {
  const char* dir = getenv("STRONGROOM_P11_PAUSE_DIR");
  if (dir != NULL) {
    char paused[PATH_MAX], release[PATH_MAX];
    snprintf(paused, sizeof paused, "%s/paused", dir);
    snprintf(release, sizeof release, "%s/release", dir);
    int fd = open(paused, O_CREAT | O_WRONLY, 0600);
    if (fd < 0) return CKR_GENERAL_ERROR;
    close(fd);
    struct timespec tick = {0, 5 * 1000 * 1000};
    while (!exists(release)) nanosleep(&tick, NULL);
    unlink(release);
    unlink(paused);
  }
  return g_real_logout(session);
}

CK_RV C_GetFunctionList(struct FunctionList** out) {
  const char* real = getenv("STRONGROOM_P11_REAL");
  if (real == NULL || out == NULL) return CKR_GENERAL_ERROR;
  void* handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL) return CKR_GENERAL_ERROR;
  CK_RV (*get)(struct FunctionList**) = (CK_RV(*)(struct FunctionList**))dlsym(handle, "C_GetFunctionList");
  struct FunctionList* list = NULL;
  if (get == NULL || get(&list) != 0 || list == NULL) return CKR_GENERAL_ERROR;
  memcpy(&g_list, list, sizeof g_list);
  g_real_logout = (CK_RV(*)(unsigned long))list->fns[kLogout];
  g_list.fns[kLogout] = (Fn)PausedLogout;
  *out = &g_list;
  return 0;
}
