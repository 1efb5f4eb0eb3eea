#include "CEspeakNG.h"
#include "lazy_library.h"

// Every espeak-ng function halld calls (Espeak).
#define FUNCTIONS(F) F(espeak_Initialize) F(espeak_SetParameter) F(espeak_SetSynthCallback) F(espeak_SetVoiceByName) F(espeak_Synth)

HALLD_LAZY_LIBRARY(espeak, "libespeak-ng.so.1", "libespeak-ng1", FUNCTIONS);

const char *halld_espeak_load(void) { return halld_lazy_load(&espeak); }

#define CALL(name) HALLD_LAZY_CALL(espeak, name)

int espeak_Initialize(espeak_AUDIO_OUTPUT output, int buflength, const char *path, int options) { return CALL(espeak_Initialize)(output, buflength, path, options); }
espeak_ERROR espeak_SetParameter(espeak_PARAMETER parameter, int value, int relative) { return CALL(espeak_SetParameter)(parameter, value, relative); }
void espeak_SetSynthCallback(t_espeak_callback *callback) { CALL(espeak_SetSynthCallback)(callback); }
espeak_ERROR espeak_SetVoiceByName(const char *name) { return CALL(espeak_SetVoiceByName)(name); }
espeak_ERROR espeak_Synth(const void *text, size_t size, unsigned int position, espeak_POSITION_TYPE position_type, unsigned int end_position,
                          unsigned int flags, unsigned int *unique_identifier, void *user_data) {
    return CALL(espeak_Synth)(text, size, position, position_type, end_position, flags, unique_identifier, user_data);
}
