// libespeak-ng (Debian: libespeak-ng-dev to build, libespeak-ng1 to run), opened the
// first time a sentence is spoken: see lazy_library.h.
#include <espeak-ng/speak_lib.h>

/// Opens libespeak-ng.so.1 once: NULL, or why it cannot be.
const char *halld_espeak_load(void);
