#include "CSane.h"
#include "lazy_library.h"

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
