/* Linked into the program by pybin2img (startup.py), with -Wl,--wrap=patchInspectModule: the
 * call of Nuitka's patchInspectModule() in its main() lands here. Instead of importing inspect
 * at every start, this installs _startup_hook.py (marshalled by the build interpreter into
 * HOOK below), which runs Nuitka's function when the program first imports inspect or types.
 * Should anything fail here, Nuitka's function runs at once, as without pybin2img. */

#include <Python.h>
#include <marshal.h>

void __real_patchInspectModule(PyThreadState *tstate);

static PyObject *pybin2img_patch(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    __real_patchInspectModule(PyThreadState_Get());
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef pybin2img_patch_def = {"patch", pybin2img_patch, METH_NOARGS, NULL};

static const unsigned char HOOK[] = {
@HOOK@
};

void __wrap_patchInspectModule(PyThreadState *tstate) {
    PyObject *code = NULL, *globals = NULL, *name = NULL, *result = NULL, *install = NULL;
    PyObject *patch = NULL;

    code = PyMarshal_ReadObjectFromString((const char *)HOOK, sizeof(HOOK));
    if (code == NULL) {
        goto eager;
    }
    globals = PyDict_New();
    name = PyUnicode_FromString("pybin2img_startup");
    if (globals == NULL || name == NULL ||
        PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0 ||
        PyDict_SetItemString(globals, "__name__", name) < 0) {
        goto eager;
    }
    result = PyEval_EvalCode(code, globals, globals);
    if (result == NULL) {
        goto eager;
    }
    Py_DECREF(result);
    install = PyDict_GetItemString(globals, "install"); /* borrowed */
    patch = PyCFunction_New(&pybin2img_patch_def, NULL);
    if (install == NULL || patch == NULL) {
        goto eager;
    }
    result = PyObject_CallFunctionObjArgs(install, patch, NULL);
    if (result == NULL) {
        goto eager;
    }
    Py_DECREF(result);
    Py_DECREF(patch);
    Py_DECREF(name);
    Py_DECREF(globals);
    Py_DECREF(code);
    return;

eager:
    PyErr_Clear();
    Py_XDECREF(patch);
    Py_XDECREF(name);
    Py_XDECREF(globals);
    Py_XDECREF(code);
    __real_patchInspectModule(tstate);
}
