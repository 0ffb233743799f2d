/* Linked into the program by pybin2img (startup.py), with -Wl,--wrap for the three functions of
 * Nuitka's runtime that its main() calls at start and that import modules the program may never
 * use: setupMetaPathBasedLoader() (os, for its sys.path hook), undoEnvironmentVariable() (os, for
 * os.environ) and patchInspectModule() (inspect, and typing from Python 3.12 on). Each call lands
 * here, and _startup_hook.py (marshalled by the build interpreter into HOOK below) calls Nuitka's
 * function so that those modules execute at their first use instead. It also gives the code
 * of the Python source Nuitka's patch compiles (Py_CompileString), compiled at build time.
 * Should anything fail here, Nuitka's function runs at once, as without pybin2img. */

#include <Python.h>
#include <marshal.h>
#include <string.h>

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

/* Nuitka's functions guard against a second run, so calling one again after a failure of
 * the hook is safe. */
void __wrap_setupMetaPathBasedLoader(PyThreadState *tstate) {
    if (!call_hook("lazy_start", SETUP)) {
        __real_setupMetaPathBasedLoader(tstate);
    }
}

void __wrap_patchInspectModule(PyThreadState *tstate) {
    if (!call_hook("install", PATCH)) {
        __real_patchInspectModule(tstate);
    }
}

void __wrap_undoEnvironmentVariable(PyThreadState *tstate, char const *variable_name,
                                    char const *old_value) {
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
}
