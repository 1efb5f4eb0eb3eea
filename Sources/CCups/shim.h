// libcups (Debian: libcups2-dev). Debian 12 ships no cups.pc, so the library is
// linked by name rather than found with pkg-config.
#include <cups/cups.h>
#include <cups/ipp.h>
