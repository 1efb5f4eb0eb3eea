#include "lazy_library.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

const char *halld_lazy_load(struct halld_lazy_library *library) {
    int state = __atomic_load_n(&library->state, __ATOMIC_ACQUIRE);
    if (state == 0) {
        pthread_mutex_lock(&library->lock);
        state = library->state;
        if (state == 0) {
            // RTLD_LOCAL: its symbols resolve only the calls made through `slots`.
            void *handle = dlopen(library->soname, RTLD_NOW | RTLD_LOCAL);
            if (handle == NULL) {
                const char *why = dlerror();
                snprintf(library->error, sizeof library->error, "%s cannot be loaded (Debian package %s): %s",
                         library->soname, library->package, why ? why : "no reason given");
                state = 2;
            } else {
                state = 1;
                for (size_t i = 0; i < library->count; i++) {
                    // dlsym on the handle looks in that library and its dependencies only,
                    // so it finds the library's function, never the one of that name here.
                    library->slots[i] = dlsym(handle, library->names[i]);
                    if (library->slots[i] == NULL) {
                        snprintf(library->error, sizeof library->error, "%s has no function %s (Debian package %s, too old?)",
                                 library->soname, library->names[i], library->package);
                        dlclose(handle);
                        state = 2;
                        break;
                    }
                }
            }
            __atomic_store_n(&library->state, state, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&library->lock);
    }
    return state == 1 ? NULL : library->error;
}

void *halld_lazy_function(struct halld_lazy_library *library, size_t slot) {
    if (__atomic_load_n(&library->state, __ATOMIC_ACQUIRE) != 1) {
        const char *why = halld_lazy_load(library);
        if (why != NULL) {
            fprintf(stderr, "halld: %s called without its library: %s\n", library->names[slot], why);
            abort();
        }
    }
    return library->slots[slot];
}
