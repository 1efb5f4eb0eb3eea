// SANE (Debian: libsane-dev to build, libsane1 to run), opened the first time a
// scanner needs it: see lazy_library.h.
#include <sane/sane.h>
#include <sane/saneopts.h>

/// Opens libsane.so.1 once: NULL, or why it cannot be.
const char *halld_sane_load(void);
