#include "CCups.h"
#include "lazy_library.h"

// Every libcups function halld calls (CupsClient). One missing here is an undefined
// symbol when halld links.
#define FUNCTIONS(F) \
    F(cupsCancelJob2) F(cupsCreateJob) F(cupsDoRequest) F(cupsFinishDocument) F(cupsFreeDests) F(cupsGetDests2) \
    F(cupsLastError) F(cupsLastErrorString) F(cupsServer) F(cupsSetServer) F(cupsStartDocument) F(cupsUser) \
    F(cupsWriteRequestData) F(ippAddInteger) F(ippAddString) F(ippAddStrings) F(ippDelete) F(ippFindAttribute) \
    F(ippFirstAttribute) F(ippGetBoolean) F(ippGetCount) F(ippGetInteger) F(ippGetName) F(ippGetString) \
    F(ippNewRequest) F(ippNextAttribute)

HALLD_LAZY_LIBRARY(cups, "libcups.so.2", "libcups2", FUNCTIONS);

const char *halld_cups_load(void) { return halld_lazy_load(&cups); }

#define CALL(name) HALLD_LAZY_CALL(cups, name)

ipp_status_t cupsCancelJob2(http_t *http, const char *name, int job_id, int purge) { return CALL(cupsCancelJob2)(http, name, job_id, purge); }
int cupsCreateJob(http_t *http, const char *name, const char *title, int num_options, cups_option_t *options) { return CALL(cupsCreateJob)(http, name, title, num_options, options); }
ipp_t *cupsDoRequest(http_t *http, ipp_t *request, const char *resource) { return CALL(cupsDoRequest)(http, request, resource); }
ipp_status_t cupsFinishDocument(http_t *http, const char *name) { return CALL(cupsFinishDocument)(http, name); }
void cupsFreeDests(int num_dests, cups_dest_t *dests) { CALL(cupsFreeDests)(num_dests, dests); }
int cupsGetDests2(http_t *http, cups_dest_t **dests) { return CALL(cupsGetDests2)(http, dests); }
ipp_status_t cupsLastError(void) { return CALL(cupsLastError)(); }
const char *cupsLastErrorString(void) { return CALL(cupsLastErrorString)(); }
const char *cupsServer(void) { return CALL(cupsServer)(); }
void cupsSetServer(const char *server) { CALL(cupsSetServer)(server); }
http_status_t cupsStartDocument(http_t *http, const char *name, int job_id, const char *docname, const char *format, int last_document) {
    return CALL(cupsStartDocument)(http, name, job_id, docname, format, last_document);
}
const char *cupsUser(void) { return CALL(cupsUser)(); }
http_status_t cupsWriteRequestData(http_t *http, const char *buffer, size_t length) { return CALL(cupsWriteRequestData)(http, buffer, length); }
ipp_attribute_t *ippAddInteger(ipp_t *ipp, ipp_tag_t group, ipp_tag_t value_tag, const char *name, int value) {
    return CALL(ippAddInteger)(ipp, group, value_tag, name, value);
}
ipp_attribute_t *ippAddString(ipp_t *ipp, ipp_tag_t group, ipp_tag_t value_tag, const char *name, const char *language, const char *value) {
    return CALL(ippAddString)(ipp, group, value_tag, name, language, value);
}
ipp_attribute_t *ippAddStrings(ipp_t *ipp, ipp_tag_t group, ipp_tag_t value_tag, const char *name, int num_values, const char *language,
                               const char *const *values) {
    return CALL(ippAddStrings)(ipp, group, value_tag, name, num_values, language, values);
}
void ippDelete(ipp_t *ipp) { CALL(ippDelete)(ipp); }
ipp_attribute_t *ippFindAttribute(ipp_t *ipp, const char *name, ipp_tag_t value_tag) { return CALL(ippFindAttribute)(ipp, name, value_tag); }
ipp_attribute_t *ippFirstAttribute(ipp_t *ipp) { return CALL(ippFirstAttribute)(ipp); }
int ippGetBoolean(ipp_attribute_t *attr, int element) { return CALL(ippGetBoolean)(attr, element); }
int ippGetCount(ipp_attribute_t *attr) { return CALL(ippGetCount)(attr); }
int ippGetInteger(ipp_attribute_t *attr, int element) { return CALL(ippGetInteger)(attr, element); }
const char *ippGetName(ipp_attribute_t *attr) { return CALL(ippGetName)(attr); }
const char *ippGetString(ipp_attribute_t *attr, int element, const char **language) { return CALL(ippGetString)(attr, element, language); }
ipp_t *ippNewRequest(ipp_op_t op) { return CALL(ippNewRequest)(op); }
ipp_attribute_t *ippNextAttribute(ipp_t *ipp) { return CALL(ippNextAttribute)(ipp); }
