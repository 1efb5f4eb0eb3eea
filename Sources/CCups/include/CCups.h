// libcups (Debian: libcups2-dev to build, libcups2 to run), opened the first time a
// printer needs it: see lazy_library.h.
#include <cups/cups.h>
#include <cups/ipp.h>

/// Opens libcups.so.2 once: NULL, or why it cannot be.
const char *halld_cups_load(void);
