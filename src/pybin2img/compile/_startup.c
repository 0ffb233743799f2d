/* Linked into the program by pybin2img (startup.py), with -Wl,--wrap for the three functions of
 * Nuitka's runtime that its main() calls at start and that import modules the program may never
 * use: setupMetaPathBasedLoader() (os, for its sys.path hook), undoEnvironmentVariable() (os, for
 * os.environ) and patchInspectModule() (inspect, and typing from Python 3.12 on). Each call lands
 * here, and _startup_hook.py (marshalled by the build interpreter into HOOK below) calls Nuitka's
 * function so that those modules execute at their first use instead. It also gives the code
 * of the Python source Nuitka's patch compiles (Py_CompileString), compiled at build time.
 * Should anything fail here, Nuitka's function runs at once, as without pybin2img.
 *
 * With PYBIN2IMG_BLOB_WALK, it also stands in for loadConstantsBlob(".bytecode"), the call in
 * main() that finds the bytecode of each module the program carries as bytecode (the standard
 * library's, and packages shipped as bytecode) before Py_Initialize: Nuitka steps through its
 * constants blob in memory, reading a few bytes ahead of each module's bytecode, and so has the
 * kernel map nearly all of the blob (4.6 MiB on hello) though the program reads little of it.
 * This reads the same bytes from the program's file instead (pread on /proc/self/exe), and gives
 * Nuitka the same pointers into the blob. And for PyMarshal_ReadObjectFromString, which
 * unmarshals a module's bytecode at its import: bytes in the blob are read from the file into a
 * buffer and unmarshalled from there, so that their pages do not stay mapped.
 *
 * With PYBIN2IMG_DEVNULL, it also stands in for BUILTIN_OPEN_SIMPLE(), with which main() opens
 * /dev/null for a standard stream that is closed at start: where there is no /dev/null (a
 * plain chroot into the image's files), Nuitka goes on with the error set and the stream
 * missing from sys, and the program fails in its first import or its first print. Here the
 * stream is None instead, as the interpreter makes a closed one.
 *
 * With PYBIN2IMG_BOOTSTRAP, it also stands in for getImportLibBootstrapModule(), which main()
 * calls before it sets up its importer ("make sure the importlib fully bootstraps") and which
 * imports importlib._bootstrap by that name: the importlib package executes, and with it
 * warnings, at every start, where the interpreter executes neither until the program imports
 * them. The module Nuitka asks for is the interpreter's _frozen_importlib, there from its start;
 * it is handed over under the name Nuitka imports and the name taken away again, so that
 * importlib and warnings execute at their first use, as under the interpreter.
 *
 * With PYBIN2IMG_LOCALE, it also stands in for setlocale() until main() sets up its importer:
 * Nuitka decodes the command line with every category of the environment's locale set for the
 * time (setlocale(LC_ALL, "")), then sets them back. Decoding reads LC_CTYPE only, which is
 * what the interpreter sets from the environment; the other categories' files (LC_NUMERIC,
 * LC_TIME, ... eleven more) are opened, read and stay mapped for nothing. Here that call sets
 * LC_CTYPE only.
 *
 * With PYBIN2IMG_LOADER_NAMES, it also stands in for registerMetaPathBasedLoader(), which
 * setupMetaPathBasedLoader() calls with Nuitka's table of the modules the program carries.
 * Nuitka finds a module by going through that table in order (three times per import: to find,
 * create and execute it), comparing each entry's name by first copying it into a buffer; on a
 * Flask app that is 5% of the instructions to its first answer. Here each entry whose name
 * Nuitka compares that way gets, in the slot Nuitka's table has for it, a function that
 * compares the same name in place. The table's order, and so what is found, is unchanged.
 *
 * With PYBIN2IMG_DISTRIBUTION, it also stands in for PyImport_ExecCodeModule(), with which
 * Nuitka executes the source of its class of distributions (the objects importlib.metadata
 * lists for the packages the program carries): the hook then gives that class the
 * _normalized_name of importlib.metadata's Distribution computed from the headers of its
 * METADATA alone. importlib.metadata.entry_points() asks every distribution for it; the
 * interpreter's take it from their dist-info directory's name, and Nuitka's parsed their whole
 * METADATA, long description and all (242 kB for FastAPI's fourteen), at every call.
 *
 * With PYBIN2IMG_ALLOCATOR, it also stands in for Py_PreInitialize(), which installs the
 * allocator PYTHONMALLOC or the development mode (PYTHONDEVMODE) asks for: Nuitka calls that
 * allocator's functions without a context, which the debug hooks need. The same allocator is
 * installed without the hooks. With PYBIN2IMG_WARNINGS, before that call, the modules of warnings
 * (compiled at build time) are added to Nuitka's table of modules for the interpreter's start,
 * which imports warnings when sys.warnoptions is not empty.
 *
 * With PYBIN2IMG_NORMALIZE (before Python 3.12), it also stands in for IMPORT_EMBEDDED_MODULE(),
 * with which main() executes the app: the exception the app ends with is normalized before
 * Nuitka reads its type from its value, which a KeyboardInterrupt set by a signal has not got. */

#include <Python.h>
#include <marshal.h>
#include <stdbool.h>
#include <string.h>
#if PYBIN2IMG_BLOB_WALK
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#endif

void __real_setupMetaPathBasedLoader(PyThreadState *tstate);
void __real_undoEnvironmentVariable(PyThreadState *tstate, char const *variable_name,
                                    char const *old_value);
void __real_patchInspectModule(PyThreadState *tstate);

static const unsigned char HOOK[] = {
@HOOK@
};

/* The Python source Nuitka's patchInspectModule() compiles (Py_CompileString) for its
 * types.coroutine replacement, as pybin2img read it from Nuitka's sources (NUL-terminated), and
 * its code, compiled by the build interpreter; a single 0 each when it could not be read. */
static const unsigned char SNIPPET_SOURCE[] = {
@SNIPPET_SOURCE@
};
static const unsigned char SNIPPET_CODE[] = {
@SNIPPET_CODE@
};

PyObject *__real_Py_CompileStringExFlags(const char *str, const char *filename, int start,
                                         PyCompilerFlags *flags, int optimize);

/* Nuitka's source, compiled as Nuitka asks (no flags, the interpreter's optimisation level,
 * which must be 0 as at build time): the build interpreter's code object, unmarshalled.
 * Anything else, or a failure, is compiled as always. */
PyObject *__wrap_Py_CompileStringExFlags(const char *str, const char *filename, int start,
                                         PyCompilerFlags *flags, int optimize) {
    if (sizeof(SNIPPET_CODE) > 1 && flags == NULL && optimize == -1 && start == Py_file_input &&
        str != NULL && filename != NULL && strcmp(filename, "<exec>") == 0 &&
        strcmp(str, (const char *)SNIPPET_SOURCE) == 0) {
        PyObject *sys_flags = PySys_GetObject("flags"); /* borrowed */
        PyObject *level = sys_flags == NULL ? NULL : PyObject_GetAttrString(sys_flags, "optimize");
        long optimization = level == NULL ? -1 : PyLong_AsLong(level);
        PyObject *code = NULL;

        Py_XDECREF(level);
        if (optimization == 0) {
            code = PyMarshal_ReadObjectFromString((const char *)SNIPPET_CODE, sizeof(SNIPPET_CODE));
        }
        if (code != NULL && PyCode_Check(code)) {
            return code;
        }
        Py_XDECREF(code);
        PyErr_Clear();
    }
    return __real_Py_CompileStringExFlags(str, filename, start, flags, optimize);
}

/* The hook's globals once it has run, NULL before or when it failed. */
static PyObject *hook_globals = NULL;
static int hook_failed = 0;

/* The hook's function NAME (a borrowed reference), or NULL with no error set. */
static PyObject *hook_function(char const *name) {
    if (hook_globals == NULL && !hook_failed) {
        PyObject *code = NULL, *globals = NULL, *module_name = NULL, *result = NULL;

        code = PyMarshal_ReadObjectFromString((const char *)HOOK, sizeof(HOOK));
        globals = PyDict_New();
        module_name = PyUnicode_FromString("pybin2img_startup");
        if (code != NULL && globals != NULL && module_name != NULL &&
            PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0 &&
            PyDict_SetItemString(globals, "__name__", module_name) == 0) {
            result = PyEval_EvalCode(code, globals, globals);
        }
        if (result != NULL) {
            Py_DECREF(result);
            hook_globals = globals;
            globals = NULL;
        } else {
            hook_failed = 1;
        }
        Py_XDECREF(module_name);
        Py_XDECREF(globals);
        Py_XDECREF(code);
    }
    PyErr_Clear();
    return hook_globals == NULL ? NULL : PyDict_GetItemString(hook_globals, name);
}

/* Nuitka's functions the hook calls, by their index (the self of the callable it gets). */
static void (*const NUITKA_FUNCTIONS[])(PyThreadState *) = {
    __real_setupMetaPathBasedLoader,
    __real_patchInspectModule,
};
enum { SETUP, PATCH };

static PyObject *pybin2img_call_nuitka(PyObject *self, PyObject *unused) {
    (void)unused;
    NUITKA_FUNCTIONS[PyLong_AsLong(self)](PyThreadState_Get());
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef pybin2img_nuitka_def = {"nuitka", pybin2img_call_nuitka, METH_NOARGS, NULL};

/* Call the hook's function NAME with Nuitka's function WHICH; 0 when it did not return. */
static int call_hook(char const *name, long which) {
    PyObject *function = hook_function(name);
    PyObject *index = function == NULL ? NULL : PyLong_FromLong(which);
    PyObject *callable = index == NULL ? NULL : PyCFunction_New(&pybin2img_nuitka_def, index);
    PyObject *result = callable == NULL ? NULL : PyObject_CallFunctionObjArgs(function, callable, NULL);

    Py_XDECREF(callable);
    Py_XDECREF(index);
    if (result == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(result);
    return 1;
}

/* An exception Nuitka's main() left set when it calls a function below (its start goes on when
 * opening /dev/null for a closed standard stream fails, where the stand-in for that further
 * down is not linked), put aside while the hook runs Python code, and set again afterwards:
 * Nuitka's function would have run with it set, and what comes after sees it as without
 * pybin2img. */
#if PY_VERSION_HEX >= 0x030C0000
typedef PyObject *pending_error;

static pending_error put_aside(void) { return PyErr_GetRaisedException(); }

static void set_again(pending_error error) {
    if (error != NULL) {
        PyErr_Clear();
        PyErr_SetRaisedException(error);
    }
}
#else
typedef struct {
    PyObject *type, *value, *traceback;
} pending_error;

static pending_error put_aside(void) {
    pending_error error;
    PyErr_Fetch(&error.type, &error.value, &error.traceback);
    return error;
}

static void set_again(pending_error error) {
    if (error.type != NULL) {
        PyErr_Clear();
        PyErr_Restore(error.type, error.value, error.traceback);
    }
}
#endif

/* Until main() sets up the program's importer: the standard streams are opened before. */
static int at_start = 1;

#if PYBIN2IMG_DEVNULL
PyObject *__real_BUILTIN_OPEN_SIMPLE(PyThreadState *tstate, PyObject *filename, char const *mode,
                                     bool buffering, PyObject *encoding);

PyObject *__wrap_BUILTIN_OPEN_SIMPLE(PyThreadState *tstate, PyObject *filename, char const *mode,
                                     bool buffering, PyObject *encoding) {
    PyObject *result = __real_BUILTIN_OPEN_SIMPLE(tstate, filename, mode, buffering, encoding);

    if (result == NULL && at_start && PyUnicode_Check(filename) &&
        PyUnicode_CompareWithASCIIString(filename, "/dev/null") == 0) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return result;
}
#endif

/* Nuitka's functions guard against a second run, so calling one again after a failure of
 * the hook is safe. */
void __wrap_setupMetaPathBasedLoader(PyThreadState *tstate) {
    pending_error error = put_aside();

    at_start = 0;

    if (!call_hook("lazy_start", SETUP)) {
        __real_setupMetaPathBasedLoader(tstate);
    }
    set_again(error);
}

void __wrap_patchInspectModule(PyThreadState *tstate) {
    pending_error error = put_aside();

    if (!call_hook("install", PATCH)) {
        __real_patchInspectModule(tstate);
    }
    set_again(error);
}

void __wrap_undoEnvironmentVariable(PyThreadState *tstate, char const *variable_name,
                                    char const *old_value) {
    pending_error error = put_aside();
    PyObject *function = hook_function("restore_environ");
    PyObject *result = NULL;

    if (function != NULL) {
        if (old_value == NULL) {
            result = PyObject_CallFunction(function, "sO", variable_name, Py_None);
        } else {
            result = PyObject_CallFunction(function, "sy", variable_name, old_value);
        }
    }
    if (result == NULL || PyObject_IsTrue(result) != 1) {
        PyErr_Clear();
        __real_undoEnvironmentVariable(tstate, variable_name, old_value);
    }
    Py_XDECREF(result);
    set_again(error);
}

#if PYBIN2IMG_BLOB_WALK
void __real_loadConstantsBlob(PyThreadState *tstate, void *output, char const *name);
/* Nuitka's accessor of the blob (weak: without it, Nuitka's walk runs). */
extern unsigned char const *getconstant_binData(void) __attribute__((weak));

/* Where the blob is in the program's file: its offset there and how many of its bytes on are
 * the file's in the same loaded segment. */
struct blob_place {
    uintptr_t address;
    off_t offset;
    size_t room;
    int found;
};

static int find_blob(struct dl_phdr_info *info, size_t size, void *data) {
    struct blob_place *place = data;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + header->p_vaddr;
        if (header->p_type == PT_LOAD && place->address >= start &&
            place->address < start + header->p_filesz) {
            place->offset = (off_t)(header->p_offset + (place->address - start));
            place->room = header->p_filesz - (place->address - start);
            place->found = 1;
        }
    }
    return 1; /* the first object is the program */
}

/* Nuitka's format (DataComposer.py, HelpersConstantsBlob.c): named parts, each its name, a NUL,
 * its size (uint32) and its bytes; the ".bytecode" part is a count (uint16), that many values
 * tagged TAG_BLOB_DATA, each its length (7 bits a byte, low first) and its bytes, and TAG_END
 * as the part's last byte. */
struct blob_walk {
    int fd;
    unsigned char const *blob;
    struct blob_place place;
    size_t at, begin, end; /* offsets in the blob: where the walk is, ".bytecode"'s bytes */
};

/* The ".bytecode" part's bytes once the walk has found them (else NULL), and where the first of
 * them is in the program's file. */
static unsigned char const *bytecode_begin = NULL, *bytecode_end = NULL;
static off_t bytecode_offset = 0;

static ssize_t read_at(struct blob_walk const *walk, void *buffer, size_t size) {
    if (walk->at >= walk->place.room) {
        return 0;
    }
    if (size > walk->place.room - walk->at) {
        size = walk->place.room - walk->at;
    }
    return pread(walk->fd, buffer, size, walk->place.offset + (off_t)walk->at);
}

/* Find the ".bytecode" part in the file; its count of values, or -1. */
static int find_bytecode(struct blob_walk *walk) {
    unsigned char buffer[1024];
    uint16_t count;

    /* The file is the program: the blob's first bytes are the same there. */
    if (read_at(walk, buffer, 64) != 64 || memcmp(buffer, walk->blob, 64) != 0) {
        return -1;
    }
    for (;;) {
        ssize_t got = read_at(walk, buffer, sizeof(buffer));
        unsigned char *nul = got > 0 ? memchr(buffer, 0, (size_t)got) : NULL;
        uint32_t size;

        if (nul == NULL || (nul - buffer) + 5 > got) {
            return -1;
        }
        memcpy(&size, nul + 1, sizeof(size));
        walk->at += (size_t)(nul - buffer) + 5;
        if (strcmp((char const *)buffer, ".bytecode") == 0) {
            walk->begin = walk->at;
            walk->end = walk->at + size;
            break;
        }
        walk->at += size;
    }
    if (walk->end > walk->place.room || walk->end < walk->at + 3 || read_at(walk, &count, 2) != 2) {
        return -1;
    }
    walk->at += 2;
    return count;
}

/* The pointers Nuitka's walk gives for COUNT values; 0 only when the walk ends on TAG_END, the
 * part's last byte. */
static int read_values(struct blob_walk *walk, unsigned char const **pointers, int count) {
    unsigned char head[11];

    for (int i = 0; i < count; i++) {
        ssize_t got = read_at(walk, head, sizeof(head));
        uint64_t length = 0;
        int k = 1;

        if (got < 2 || head[0] != PYBIN2IMG_TAG_BLOB_DATA) {
            return -1;
        }
        for (;; k++) {
            if (k >= got || k > 9) {
                return -1;
            }
            length |= (uint64_t)(head[k] & 127) << (7 * (k - 1));
            if (head[k] < 128) {
                break;
            }
        }
        walk->at += (size_t)k + 1;
        if (walk->at > walk->end || length > walk->end - walk->at) {
            return -1;
        }
        pointers[i] = walk->blob + walk->at;
        walk->at += length;
    }
    if (walk->at + 1 != walk->end || read_at(walk, head, 1) != 1 || head[0] != PYBIN2IMG_TAG_END) {
        return -1;
    }
    return 0;
}

static int walk_bytecode(void *output) {
    struct blob_walk walk = {-1, NULL, {0, 0, 0, 0}, 0, 0, 0};
    unsigned char const **pointers = NULL;
    int count, result = -1;

    walk.blob = getconstant_binData == NULL ? NULL : getconstant_binData();
    if (walk.blob == NULL) {
        return -1;
    }
    walk.place.address = (uintptr_t)walk.blob;
    dl_iterate_phdr(find_blob, &walk.place);
    if (!walk.place.found) {
        return -1;
    }
    walk.fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (walk.fd < 0) {
        return -1;
    }
    count = find_bytecode(&walk);
    if (count >= 0) {
        pointers = malloc(sizeof(*pointers) * (size_t)(count > 0 ? count : 1));
    }
    if (pointers != NULL && read_values(&walk, pointers, count) == 0) {
        memcpy(output, pointers, sizeof(*pointers) * (size_t)count);
        bytecode_begin = walk.blob + walk.begin;
        bytecode_end = walk.blob + walk.end;
        bytecode_offset = walk.place.offset + (off_t)walk.begin;
        result = 0;
    }
    free(pointers);
    close(walk.fd);
    return result;
}

void __wrap_loadConstantsBlob(PyThreadState *tstate, void *output, char const *name) {
    if (strcmp(name, ".bytecode") == 0 && walk_bytecode(output) == 0) {
        return;
    }
    __real_loadConstantsBlob(tstate, output, name);
}

PyObject *__real_PyMarshal_ReadObjectFromString(const char *data, Py_ssize_t size);

/* A module's bytecode is unmarshalled from a copy read from the program's file, as the
 * interpreter reads a .pyc, so that its pages of the blob are not mapped into the program for
 * the rest of its run (the bytes are the same: the file is the program, and the part is not
 * relocated). Anything else, or a failure, is unmarshalled where it is. */
PyObject *__wrap_PyMarshal_ReadObjectFromString(const char *data, Py_ssize_t size) {
    unsigned char const *at = (unsigned char const *)data;

    if (bytecode_begin != NULL && at >= bytecode_begin && at < bytecode_end && size > 0 &&
        (size_t)size <= (size_t)(bytecode_end - at)) {
        int saved = errno;
        char *copy = malloc((size_t)size);
        int fd = copy == NULL ? -1 : open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        size_t done = 0;

        if (fd >= 0) {
            off_t offset = bytecode_offset + (off_t)(at - bytecode_begin);
            while (done < (size_t)size) {
                ssize_t got = pread(fd, copy + done, (size_t)size - done, offset + (off_t)done);
                if (got < 0 && errno == EINTR) {
                    continue;
                }
                if (got <= 0) {
                    break;
                }
                done += (size_t)got;
            }
            close(fd);
        }
        errno = saved;
        if (fd >= 0 && done == (size_t)size) {
            PyObject *result = __real_PyMarshal_ReadObjectFromString(copy, size);
            free(copy);
            return result;
        }
        free(copy);
    }
    return __real_PyMarshal_ReadObjectFromString(data, size);
}
#endif

#if PYBIN2IMG_BOOTSTRAP
PyObject *__real_getImportLibBootstrapModule(void);

/* Put VALUE into sys.modules as NAME where NAME is not there; whether it was put. */
static int hand_over(PyObject *modules, char const *name, PyObject *value) {
    if (value == NULL || PyDict_GetItemString(modules, name) != NULL) {
        return 0;
    }
    return PyDict_SetItemString(modules, name, value) == 0;
}

/* Take NAME out of sys.modules again where it is still VALUE. */
static void take_back(PyObject *modules, char const *name, PyObject *value) {
    if (PyDict_GetItemString(modules, name) == value) {
        PyDict_DelItemString(modules, name);
    }
}

/* main() asks first, before any thread; each compiled module asks again as it is executed, and
 * gets what Nuitka's function kept. */
static int bootstrap_asked = 0;

PyObject *__wrap_getImportLibBootstrapModule(void) {
    if (bootstrap_asked) {
        return __real_getImportLibBootstrapModule();
    }
    bootstrap_asked = 1;
    pending_error error = put_aside();
    PyObject *modules = PyImport_GetModuleDict();                            /* borrowed */
    PyObject *frozen = PyDict_GetItemString(modules, "_frozen_importlib"); /* borrowed */
    /* PyImport_ImportModule() imports a dotted name's package too: a module standing in for
     * it, only while Nuitka's function runs. */
    PyObject *package = frozen == NULL ? NULL : PyModule_New("importlib");
    int handed = 0, stood_in = 0;
    PyObject *result;

    if (package != NULL && PyDict_GetItemString(modules, "importlib") == NULL) {
        handed = hand_over(modules, "importlib._bootstrap", frozen);
        stood_in = handed && hand_over(modules, "importlib", package);
    }
    PyErr_Clear();
    set_again(error);
    /* Nuitka's function imports the name and keeps what it got for its later calls. */
    result = __real_getImportLibBootstrapModule();
    error = put_aside();
    if (stood_in) {
        take_back(modules, "importlib", package);
    }
    if (handed) {
        take_back(modules, "importlib._bootstrap", frozen);
    }
    Py_XDECREF(package);
    PyErr_Clear();
    set_again(error);
    return result;
}
#endif

#if PYBIN2IMG_LOCALE
#include <locale.h>

char *__real_setlocale(int category, const char *locale);

char *__wrap_setlocale(int category, const char *locale) {
    if (at_start && category == LC_ALL && locale != NULL && locale[0] == '\0') {
        return __real_setlocale(LC_CTYPE, locale);
    }
    return __real_setlocale(category, locale);
}
#endif

#if PYBIN2IMG_LOADER_NAMES
/* The first fields of Nuitka's struct Nuitka_MetaPathBasedLoaderEntry (nuitka/unfreezing.h), as
 * startup.py found them spelled there: the entry's name, and the two optional functions that
 * stand in for comparing it. */
struct loader_entry_names {
    char const *m_name;
    void (*m_get_name)(char *buffer, size_t buffer_size, char const *name);
    bool (*m_compare_name)(char const *name, char const *m_name);
};

void __real_registerMetaPathBasedLoader(struct loader_entry_names **entries,
                                        unsigned char **bytecode_data, int entry_count);

/* What Nuitka_LoaderEntryCompareName() does for an entry without these functions, without its
 * copy of the name into a buffer first; the first byte is compared here, where most entries
 * differ. */
static bool same_name(char const *name, char const *m_name) {
    return name[0] == m_name[0] && strcmp(name, m_name) == 0;
}

void __wrap_registerMetaPathBasedLoader(struct loader_entry_names **entries,
                                        unsigned char **bytecode_data, int entry_count) {
    /* Nuitka stops the program (abort) for a name as long as its buffer: such an entry keeps
     * its own comparison. */
    for (int i = 0; i < entry_count; i++) {
        struct loader_entry_names *entry = entries[i];
        if (entry->m_get_name == NULL && entry->m_compare_name == NULL &&
            strlen(entry->m_name) < PYBIN2IMG_LOADER_NAME_MAX) {
            entry->m_compare_name = same_name;
        }
    }
    __real_registerMetaPathBasedLoader(entries, bytecode_data, entry_count);
}
#endif

#if PYBIN2IMG_DISTRIBUTION
PyObject *__real_PyImport_ExecCodeModule(const char *name, PyObject *co);

/* The module in which Nuitka makes its class of distributions (nuitka_distribution) from its
 * source, the first time the program lists or looks up an installed distribution: the hook's
 * distribution_names() gives that class the cheap _normalized_name once the module has
 * executed. Any other module, or a failure there, is left as it is. */
PyObject *__wrap_PyImport_ExecCodeModule(const char *name, PyObject *co) {
    PyObject *module = __real_PyImport_ExecCodeModule(name, co);

    if (module != NULL && name != NULL && strcmp(name, "nuitka_distribution_patch") == 0) {
        PyObject *function = hook_function("distribution_names");
        PyObject *result = function == NULL ? NULL : PyObject_CallOneArg(function, module);

        Py_XDECREF(result);
        PyErr_Clear();
    }
    return module;
}
#endif

#if PYBIN2IMG_PREINIT
PyStatus __real_Py_PreInitialize(const PyPreConfig *src_config);
#endif

#if PYBIN2IMG_WARNINGS
/* The modules "import warnings" executes that Nuitka's table of modules for the interpreter's
 * start may lack, compiled at build time by the build interpreter (startup.py): name, whether
 * a package, marshalled code. The interpreter imports warnings while it starts, before Nuitka's
 * importer is set up, when sys.warnoptions is not empty (PYTHONWARNINGS, the development mode);
 * from Python 3.12 on nothing Nuitka carries for the start imports it, and the program printed
 * "'import warnings' failed; traceback: ... No module named 'warnings'" at every start. */
@WARNINGS@

/* Nuitka's table of modules for the start (PyImport_FrozenModules), with those of the modules
 * above it does not have. Nuitka puts its own table back before it sets up its importer. */
static void add_warnings_modules(void) {
    const struct _frozen *table = PyImport_FrozenModules;
    Py_ssize_t count = 0, added = 0;

    while (table != NULL && table[count].name != NULL) {
        count++;
    }
    struct _frozen *merged = calloc(count + WARNINGS_MODULES_COUNT + 1, sizeof(*merged));
    if (merged == NULL) {
        return;
    }
    if (count > 0) {
        memcpy(merged, table, count * sizeof(*merged));
    }
    for (int i = 0; i < WARNINGS_MODULES_COUNT; i++) {
        bool present = false;
        for (Py_ssize_t j = 0; j < count; j++) {
            present = present || strcmp(table[j].name, WARNINGS_MODULES[i].name) == 0;
        }
        if (!present) {
            merged[count + added] = WARNINGS_MODULES[i];
            added++;
        }
    }
    if (added == 0) {
        free(merged);
        return;
    }
    PyImport_FrozenModules = merged;
}
#endif

#if PYBIN2IMG_ALLOCATOR
/* The allocator the interpreter would choose from PYTHONMALLOC and the development mode
 * (PYTHONDEVMODE), without its debug hooks: the same allocator, or the default one for "debug"
 * and for the development mode's own choice. PYMEM_ALLOCATOR_NOT_SET where there are no hooks
 * to leave out, or the name is not one of the interpreter's: it then decides, as it would. */
static PyMemAllocatorName without_debug_hooks(const PyPreConfig *config) {
    const char *name = getenv("PYTHONMALLOC");
    const char *dev = getenv("PYTHONDEVMODE");

    if (name == NULL || name[0] == '\0') {
        bool dev_mode = config->dev_mode > 0 || (config->dev_mode < 0 && dev != NULL && dev[0]);
        return dev_mode ? PYMEM_ALLOCATOR_DEFAULT : PYMEM_ALLOCATOR_NOT_SET;
    }
    if (strcmp(name, "debug") == 0) {
        return PYMEM_ALLOCATOR_DEFAULT;
    }
    if (strcmp(name, "malloc_debug") == 0) {
        return PYMEM_ALLOCATOR_MALLOC;
    }
#ifdef WITH_PYMALLOC
    if (strcmp(name, "pymalloc_debug") == 0) {
        return PYMEM_ALLOCATOR_PYMALLOC;
    }
#endif
#ifdef WITH_MIMALLOC
    if (strcmp(name, "mimalloc_debug") == 0) {
        return PYMEM_ALLOCATOR_MIMALLOC;
    }
#endif
    return PYMEM_ALLOCATOR_NOT_SET;
}
#endif

#if PYBIN2IMG_PREINIT
/* Called by Nuitka's main() once its table of modules for the start is in place (with
 * PYBIN2IMG_WARNINGS: the modules of warnings are added to it), to pre-initialize the
 * interpreter, which installs the allocator PYTHONMALLOC or the development mode asks for.
 * Nuitka then keeps that allocator's functions and calls them directly for the objects it makes,
 * with no context (nuitka/allocator.h, outside a debug build of Python). The debug hooks'
 * functions need theirs: with PYTHONDEVMODE=1 or PYTHONMALLOC=debug the program crashed
 * (SIGSEGV) in its first allocation. With PYBIN2IMG_ALLOCATOR the hooks are left out and the
 * allocator under them installed; everything else PYTHONDEVMODE does (warnings shown,
 * faulthandler, asyncio's debug mode, sys.flags.dev_mode) is as under the interpreter. */
PyStatus __wrap_Py_PreInitialize(const PyPreConfig *src_config) {
#if PYBIN2IMG_WARNINGS
    add_warnings_modules();
#endif
#if PYBIN2IMG_ALLOCATOR && !defined(Py_DEBUG)
    if (src_config != NULL && src_config->allocator == PYMEM_ALLOCATOR_NOT_SET &&
        src_config->use_environment > 0 && src_config->isolated <= 0) {
        PyPreConfig config = *src_config;

        config.allocator = without_debug_hooks(src_config);
        return __real_Py_PreInitialize(&config);
    }
#endif
    return __real_Py_PreInitialize(src_config);
}
#endif

#if PYBIN2IMG_NORMALIZE
PyObject *__real_IMPORT_EMBEDDED_MODULE(PyThreadState *tstate, char const *name, bool internal);

/* Nuitka's main() executes the app's __main__ through IMPORT_EMBEDDED_MODULE() and, when that
 * fails, reads the type of the exception from its value (tstate->curexc_value) before Python
 * 3.12. An exception set from C without a value is not normalized yet and has none: the
 * KeyboardInterrupt of a SIGINT (Ctrl-C, or the SIGINT an engine or tini forwards) and the
 * MemoryError of an allocation that failed left the program to die of SIGSEGV there, where the
 * interpreter prints the traceback (and, for SIGINT, exits by that signal). Here a failure's
 * exception is normalized, as the interpreter does before it prints one. */
PyObject *__wrap_IMPORT_EMBEDDED_MODULE(PyThreadState *tstate, char const *name, bool internal) {
    PyObject *result = __real_IMPORT_EMBEDDED_MODULE(tstate, name, internal);

    if (result == NULL && PyErr_Occurred()) {
        PyObject *type, *value, *traceback;

        PyErr_Fetch(&type, &value, &traceback);
        PyErr_NormalizeException(&type, &value, &traceback);
        if (traceback != NULL && value != NULL) {
            PyException_SetTraceback(value, traceback);
        }
        PyErr_Restore(type, value, traceback);
    }
    return result;
}
#endif
