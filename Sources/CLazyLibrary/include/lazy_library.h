// A shared library that halld opens the first time a device needs it (dlopen), not
// at start-up: a kiosk PC without a printer, scanner or speaker never maps libcups,
// SANE or libespeak-ng, nor the sixty-odd libraries they bring (GnuTLS, Kerberos,
// PulseAudio, X11, libxml2, ICU…). CCups, CSane and CEspeakNG define each function
// halld calls, with the library's own prototype, as a call through the pointer
// resolved here.
#ifndef HALLD_LAZY_LIBRARY_H
#define HALLD_LAZY_LIBRARY_H

#include <pthread.h>
#include <stddef.h>

struct halld_lazy_library {
    /// The file dlopen looks for, by its SONAME ("libcups.so.2").
    const char *soname;
    /// The Debian package that has it, for the message when it is missing.
    const char *package;
    /// The functions to resolve, and where each goes (same order, `count` of each).
    const char *const *names;
    void **slots;
    size_t count;
    /// 0 not tried, 1 loaded, 2 failed (`error` says why).
    int state;
    pthread_mutex_t lock;
    char error[512];
};

/// Defines `library`, opened from `soname`, with a slot for each function FUNCTIONS
/// lists (an X-macro: `#define FUNCTIONS(F) F(cupsServer) F(…)`).
#define HALLD_LAZY_SLOT(name) halld_slot_##name,
#define HALLD_LAZY_NAME(name) #name,
#define HALLD_LAZY_LIBRARY(library, soname, package, FUNCTIONS)                                        \
    enum { FUNCTIONS(HALLD_LAZY_SLOT) };                                                               \
    static const char *const library##_names[] = { FUNCTIONS(HALLD_LAZY_NAME) };                       \
    static void *library##_slots[sizeof library##_names / sizeof library##_names[0]];                  \
    static struct halld_lazy_library library = { soname, package, library##_names, library##_slots,     \
                                                 sizeof library##_names / sizeof library##_names[0], 0, \
                                                 PTHREAD_MUTEX_INITIALIZER, { 0 } }

/// The function `name` of `library`, with its own prototype.
#define HALLD_LAZY_CALL(library, name) ((__typeof__(name) *)halld_lazy_function(&library, halld_slot_##name))

/// Opens the library and resolves every function, once; later calls answer what the
/// first found. NULL when loaded, otherwise why not (the file, the package, dlerror's
/// words, or the function the library lacks).
const char *halld_lazy_load(struct halld_lazy_library *library);

/// The function in `slot`, loading the library first if nobody did. The Swift side
/// asks `halld_lazy_load` before its first call and reports a failure as the device's
/// error; a call when the library cannot be loaded is a fault in halld, and ends the
/// process with the reason on standard error rather than jumping to address zero.
void *halld_lazy_function(struct halld_lazy_library *library, size_t slot);

#endif
