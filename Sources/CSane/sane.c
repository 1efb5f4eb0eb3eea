#define _GNU_SOURCE
#include "CSane.h"
#include "lazy_library.h"

#include <dlfcn.h>
#include <pthread.h>

// Every SANE function halld calls (SaneSession).
#define FUNCTIONS(F) \
    F(sane_cancel) F(sane_close) F(sane_control_option) F(sane_get_devices) F(sane_get_option_descriptor) \
    F(sane_get_parameters) F(sane_init) F(sane_open) F(sane_read) F(sane_start) F(sane_strstatus)

HALLD_LAZY_LIBRARY(sane, "libsane.so.1", "libsane1", FUNCTIONS);

const char *halld_sane_load(void) { return halld_lazy_load(&sane); }

#define CALL(name) HALLD_LAZY_CALL(sane, name)

void sane_cancel(SANE_Handle handle) { CALL(sane_cancel)(handle); }
void sane_close(SANE_Handle handle) { CALL(sane_close)(handle); }
SANE_Status sane_control_option(SANE_Handle handle, SANE_Int option, SANE_Action action, void *value, SANE_Int *info) {
    return CALL(sane_control_option)(handle, option, action, value, info);
}
SANE_Status sane_get_devices(const SANE_Device ***device_list, SANE_Bool local_only) { return CALL(sane_get_devices)(device_list, local_only); }
const SANE_Option_Descriptor *sane_get_option_descriptor(SANE_Handle handle, SANE_Int option) { return CALL(sane_get_option_descriptor)(handle, option); }
SANE_Status sane_get_parameters(SANE_Handle handle, SANE_Parameters *params) { return CALL(sane_get_parameters)(handle, params); }
SANE_Status sane_init(SANE_Int *version_code, SANE_Auth_Callback authorize) { return CALL(sane_init)(version_code, authorize); }
SANE_Status sane_open(SANE_String_Const devicename, SANE_Handle *handle) { return CALL(sane_open)(devicename, handle); }
SANE_Status sane_read(SANE_Handle handle, SANE_Byte *data, SANE_Int max_length, SANE_Int *length) { return CALL(sane_read)(handle, data, max_length, length); }
SANE_Status sane_start(SANE_Handle handle) { return CALL(sane_start)(handle); }
SANE_String_Const sane_strstatus(SANE_Status status) { return CALL(sane_strstatus)(status); }

// SANE's reader threads (sanei_thread: the test, avision, plustek… backends) ask for
// asynchronous cancellation, and the backend cancels its reader when a page ends
// (sane_read at the end of the data) or a scan is canceled. A thread canceled
// asynchronously inside malloc or free leaves the allocator's arena locked, and the
// next thread that frees into that arena waits forever: found as an ADF job that stayed
// "processing" (about one job in 80 of the scan benchmark), its sane_read joining a
// reader that waited, exiting, for the arena a reader before it had died holding.
// So in halld's process every thread's cancellation stays deferred: a canceled reader
// stops at its next cancellation point (the write into its pipe, whose other end the
// backend closed first), never inside the allocator. Exported from halld's executables
// (Package.swift: --export-dynamic-symbol), so the backends halld loads bind to this one.
int pthread_setcanceltype(int type, int *oldtype) {
    static int (*next)(int, int *);
    int (*f)(int, int *) = __atomic_load_n(&next, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        f = (int (*)(int, int *))dlsym(RTLD_NEXT, "pthread_setcanceltype");
        __atomic_store_n(&next, f, __ATOMIC_RELEASE);
    }
    return f(type == PTHREAD_CANCEL_ASYNCHRONOUS ? PTHREAD_CANCEL_DEFERRED : type, oldtype);
}
