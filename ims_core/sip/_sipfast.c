/*
 * _sipfast.c - C fast paths of the SIP parser (module ims_core.sip._sipfast).
 *
 * The pure-Python parser (ims_core/sip/parser.py, params.py) is the executable spec.
 * Each function here handles only the common, plain shape of its input and returns
 * exactly what the Python code builds for it; for anything else it returns None and
 * the caller runs the Python code, which gives the result or the error. So a None is
 * never wrong, and nothing here raises SipParseError.
 *
 *   split_message ..... RFC 3261 §7 (generic-message), §7.3 (header fields), §18.3
 *                       (Content-Length framing): the start line and the header block
 *                       split into field tuples (key, name, value, raw line)
 *   plain_params ...... RFC 3261 §25.1 *( SEMI generic-param ) in the plain shape
 *                       `;name` / `;name=token` (no blanks, quotes or colons)
 *
 * Every input byte comes from the network: lengths are checked before each read,
 * nothing is read past the buffer, and every error path releases what it holds.
 * No global state changes after import.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

enum {
    /* token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
    C_TOKEN = 1,
    C_ODD = 2,   /* not plain header text: a control other than HT, or not ASCII */
};

static unsigned char CLASS[256];
static PyObject *SIP_2_0;     /* "SIP/2.0" */
static PyObject *EMPTY;       /* "" */
static const char *const METHOD_NAMES[] = {
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
    "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
};
#define N_METHODS ((int)(sizeof METHOD_NAMES / sizeof METHOD_NAMES[0]))
static PyObject *METHODS[N_METHODS]; /* interned: shared by every parsed request */
static Py_ssize_t METHOD_LENS[N_METHODS];

/* A new str of `n` ASCII octets (the caller has checked they are ASCII). */
static PyObject *
ascii_str(const char *s, Py_ssize_t n)
{
    PyObject *o = PyUnicode_New(n, 127);
    if (o != NULL && n > 0)
        memcpy(PyUnicode_1BYTE_DATA(o), s, (size_t)n);
    return o;
}

/* The same, lower-cased (ASCII). */
static PyObject *
ascii_lower(const char *s, Py_ssize_t n)
{
    PyObject *o = PyUnicode_New(n, 127);
    if (o == NULL)
        return NULL;
    Py_UCS1 *d = PyUnicode_1BYTE_DATA(o);
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        d[i] = (Py_UCS1)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    return o;
}

/* *out = obj as a Py_ssize_t; 0 when obj is not an int that fits (the caller falls back). */
static int
as_size(PyObject *obj, Py_ssize_t *out)
{
    if (!PyLong_Check(obj))
        return 0;
    Py_ssize_t v = PyLong_AsSsize_t(obj);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
}

/* 1 when a function of `want` positional arguments got that many, else 0 (TypeError). */
static int
nargs_ok(const char *fn, Py_ssize_t nargs, Py_ssize_t want)
{
    if (nargs == want)
        return 1;
    PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", fn, want,
                 nargs);
    return 0;
}

/* Whether `key` is the str "content-length". */
static int
is_content_length(PyObject *key)
{
    return PyUnicode_CheckExact(key) && PyUnicode_IS_ASCII(key) &&
           PyUnicode_GET_LENGTH(key) == 14 &&
           memcmp(PyUnicode_1BYTE_DATA(key), "content-length", 14) == 0;
}

/* The field of one header line `l[0:n]` (no CR, LF, other controls or non-ASCII, not
 * starting with a blank), as parser._parse_fields builds it: (key, name, value with
 * blanks stripped, line). Returns a new reference; Py_None (new reference) when the
 * line is not plain (no colon, a name that is not a token); NULL with an exception set. */
static PyObject *
make_field(const char *l, Py_ssize_t n, PyObject *line, PyObject *known)
{
    const char *colon = memchr(l, ':', (size_t)n);
    if (colon == NULL || colon == l)
        Py_RETURN_NONE;
    Py_ssize_t nlen = colon - l;
    int upper = 0;
    for (Py_ssize_t i = 0; i < nlen; i++) {
        unsigned char c = (unsigned char)l[i];
        if (!(CLASS[c] & C_TOKEN))
            Py_RETURN_NONE; /* blanks before the colon, a bad name: the Python path */
        upper |= (c >= 'A' && c <= 'Z');
    }
    PyObject *name = ascii_str(l, nlen);
    if (name == NULL)
        return NULL;
    PyObject *key = PyDict_GetItemWithError(known, name); /* borrowed */
    if (key != NULL) {
        Py_INCREF(key);
    } else if (PyErr_Occurred()) {
        Py_DECREF(name);
        return NULL;
    } else if (upper) {
        /* an odd spelling ("VIA") of a known name, or an unknown name: its key is the
         * lower-case form's key, else the lower-case form (grammar.header_key) */
        PyObject *lower = ascii_lower(l, nlen);
        if (lower == NULL) {
            Py_DECREF(name);
            return NULL;
        }
        key = PyDict_GetItemWithError(known, lower);
        if (key != NULL) {
            Py_INCREF(key);
            Py_DECREF(lower);
        } else if (PyErr_Occurred()) {
            Py_DECREF(lower);
            Py_DECREF(name);
            return NULL;
        } else {
            key = lower;
        }
    } else {
        key = Py_NewRef(name); /* an unknown lower-case name is its own key */
    }
    if (!PyUnicode_CheckExact(key)) { /* a mapping we were not meant to get */
        Py_DECREF(key);
        Py_DECREF(name);
        Py_RETURN_NONE;
    }
    const char *vs = colon + 1, *ve = l + n;
    while (vs < ve && (*vs == ' ' || *vs == '\t'))
        vs++;
    while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    PyObject *value = ascii_str(vs, ve - vs);
    PyObject *field = value != NULL ? PyTuple_New(4) : NULL;
    if (field == NULL) {
        Py_XDECREF(value);
        Py_DECREF(key);
        Py_DECREF(name);
        return NULL;
    }
    PyTuple_SET_ITEM(field, 0, key);
    PyTuple_SET_ITEM(field, 1, name);
    PyTuple_SET_ITEM(field, 2, value);
    PyTuple_SET_ITEM(field, 3, Py_NewRef(line));
    return field;
}

/* The method of a request line: the shared interned str of a usual method. */
static PyObject *
method_str(const char *s, Py_ssize_t n)
{
    for (int i = 0; i < N_METHODS; i++)
        if (METHOD_LENS[i] == n && memcmp(METHOD_NAMES[i], s, (size_t)n) == 0)
            return Py_NewRef(METHODS[i]);
    return ascii_str(s, n);
}

PyDoc_STRVAR(split_message_doc,
"split_message(data, max_size, max_headers, max_line, stream, known, cache, cache_size,\n"
"              cache_max_len)\n"
"--\n\n"
"Split one plain SIP message: (status, text, uri_text, version, fields, body) with\n"
"status 0 and text the method for a request (uri_text its Request-URI), else the status\n"
"code and text the reason phrase (uri_text ''). None when anything is not plain.");

static PyObject *
split_message(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_ok("split_message", nargs, 9))
        return NULL;
    PyObject *data = args[0], *known = args[5], *cache = args[6];
    Py_ssize_t max_size, max_headers, max_line, cache_size, cache_max_len;
    if (!PyBytes_CheckExact(data) || !PyDict_CheckExact(known) || !PyDict_CheckExact(cache) ||
        !as_size(args[1], &max_size) || !as_size(args[2], &max_headers) ||
        !as_size(args[3], &max_line) || !as_size(args[7], &cache_size) ||
        !as_size(args[8], &cache_max_len))
        Py_RETURN_NONE;
    int stream = PyObject_IsTrue(args[4]);
    if (stream < 0)
        return NULL;
    const char *p = PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data);

    /* §7.5: CRLFs before the start line are ignored. */
    Py_ssize_t start = 0;
    while (size - start >= 2 && p[start] == '\r' && p[start + 1] == '\n')
        start += 2;
    if (size - start > max_size)
        Py_RETURN_NONE;

    /* Pass 1: the header block is lines of plain ASCII text, each ended by CRLF, up to
     * the first empty line; check the limits on the way. */
    Py_ssize_t i = start, ls = start, nlines = 0, first_end = -1;
    for (;;) {
        if (i >= size)
            Py_RETURN_NONE; /* no CRLFCRLF */
        unsigned char c = (unsigned char)p[i];
        if (c == '\r') {
            if (i + 1 >= size || p[i + 1] != '\n')
                Py_RETURN_NONE;
            if (i == ls)
                break; /* the empty line (the first line is never empty: see above) */
            if (i - ls > max_line || ++nlines - 1 > max_headers)
                Py_RETURN_NONE;
            if (first_end < 0)
                first_end = i;
            i += 2;
            ls = i;
            continue;
        }
        if (CLASS[c] & C_ODD)
            Py_RETURN_NONE;
        i++;
    }
    Py_ssize_t head_end = ls, body_start = ls + 2;

    /* The start line (§7.1, §7.2), exactly one SP between elements and version SIP/2.0. */
    const char *s = p + start;
    Py_ssize_t slen = first_end - start;
    long status = 0;
    PyObject *text = NULL, *uri_text = NULL, *fields = NULL, *body = NULL;
    if (slen >= 8 && memcmp(s, "SIP/2.0 ", 8) == 0) {
        if (slen < 12 || s[8] < '1' || s[8] > '9' || s[9] < '0' || s[9] > '9' ||
            s[10] < '0' || s[10] > '9' || s[11] != ' ')
            Py_RETURN_NONE;
        status = (s[8] - '0') * 100 + (s[9] - '0') * 10 + (s[10] - '0');
        text = ascii_str(s + 12, slen - 12);
        if (text == NULL)
            return NULL;
        uri_text = Py_NewRef(EMPTY);
    } else {
        Py_ssize_t sp1 = 0;
        while (sp1 < slen && (CLASS[(unsigned char)s[sp1]] & C_TOKEN))
            sp1++;
        if (sp1 == 0 || sp1 >= slen || s[sp1] != ' ')
            Py_RETURN_NONE;
        const char *u = s + sp1 + 1, *sp2 = memchr(u, ' ', (size_t)(slen - sp1 - 1));
        if (sp2 == NULL || sp2 == u || s + slen - (sp2 + 1) != 7 ||
            memcmp(sp2 + 1, "SIP/2.0", 7) != 0)
            Py_RETURN_NONE;
        text = method_str(s, sp1);
        if (text == NULL)
            return NULL;
        uri_text = ascii_str(u, sp2 - u);
        if (uri_text == NULL)
            goto error;
    }

    /* Pass 2: the fields (parser._parse_fields), sharing its cache of line -> field. */
    fields = PyList_New(0);
    if (fields == NULL)
        goto error;
    PyObject *length_value = NULL; /* borrowed from its field, held by `fields` */
    int lengths = 0;
    for (ls = first_end + 2; ls < head_end;) {
        const char *l = p + ls, *cr = memchr(l, '\r', (size_t)(head_end - ls));
        Py_ssize_t n = cr - l; /* >= 1: pass 1 stopped at the first empty line */
        if (*l == ' ' || *l == '\t')
            goto unusual; /* folding (§7.3.1) */
        PyObject *line = ascii_str(l, n);
        if (line == NULL)
            goto error;
        PyObject *field = PyDict_GetItemWithError(cache, line); /* borrowed */
        if (field != NULL) {
            if (!PyTuple_CheckExact(field) || PyTuple_GET_SIZE(field) != 4) {
                Py_DECREF(line);
                goto unusual;
            }
            Py_INCREF(field);
        } else if (PyErr_Occurred()) {
            Py_DECREF(line);
            goto error;
        } else {
            field = make_field(l, n, line, known);
            if (field == NULL || field == Py_None) {
                Py_DECREF(line);
                if (field == NULL)
                    goto error;
                Py_DECREF(field);
                goto unusual;
            }
            if (n <= cache_max_len) {
                if (PyDict_GET_SIZE(cache) >= cache_size)
                    PyDict_Clear(cache);
                if (PyDict_SetItem(cache, line, field) < 0) {
                    Py_DECREF(field);
                    Py_DECREF(line);
                    goto error;
                }
            }
        }
        Py_DECREF(line);
        int rc = PyList_Append(fields, field);
        Py_DECREF(field);
        if (rc < 0)
            goto error;
        if (is_content_length(PyTuple_GET_ITEM(field, 0))) {
            lengths++;
            length_value = PyTuple_GET_ITEM(field, 2);
        }
        ls += n + 2;
    }

    /* Content-Length framing (§18.3, §20.14): absent, or one value of 1-10 digits
     * within the data; anything else is an error the Python path reports. */
    Py_ssize_t available = size - body_start, length;
    if (lengths == 0) {
        length = stream ? 0 : available;
    } else if (lengths > 1 || !PyUnicode_CheckExact(length_value) ||
               !PyUnicode_IS_ASCII(length_value)) {
        goto unusual;
    } else {
        Py_ssize_t vlen = PyUnicode_GET_LENGTH(length_value);
        const Py_UCS1 *v = PyUnicode_1BYTE_DATA(length_value);
        if (vlen < 1 || vlen > 10)
            goto unusual;
        long long total = 0;
        for (Py_ssize_t k = 0; k < vlen; k++) {
            if (v[k] < '0' || v[k] > '9')
                goto unusual;
            total = total * 10 + (v[k] - '0');
        }
        if (total > (long long)available)
            goto unusual;
        length = (Py_ssize_t)total;
    }
    body = PyBytes_FromStringAndSize(p + body_start, length);
    if (body == NULL)
        goto error;
    PyObject *code = PyLong_FromLong(status);
    PyObject *out = code != NULL ? PyTuple_New(6) : NULL;
    if (out == NULL) {
        Py_XDECREF(code);
        goto error;
    }
    PyTuple_SET_ITEM(out, 0, code);
    PyTuple_SET_ITEM(out, 1, text);
    PyTuple_SET_ITEM(out, 2, uri_text);
    PyTuple_SET_ITEM(out, 3, Py_NewRef(SIP_2_0));
    PyTuple_SET_ITEM(out, 4, fields);
    PyTuple_SET_ITEM(out, 5, body);
    return out;

unusual:
    Py_XDECREF(text);
    Py_XDECREF(uri_text);
    Py_XDECREF(fields);
    Py_RETURN_NONE;
error:
    Py_XDECREF(text);
    Py_XDECREF(uri_text);
    Py_XDECREF(fields);
    Py_XDECREF(body);
    return NULL;
}

PyDoc_STRVAR(plain_params_doc,
"plain_params(text, pos)\n"
"--\n\n"
"The params of text[pos:] when it is 1*( \";\" token [ \"=\" token ] ) to the end, as\n"
"(name, value or None) tuples; None for any other text (or pos out of range).");

static PyObject *
plain_params(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_ok("plain_params", nargs, 2))
        return NULL;
    PyObject *text = args[0];
    Py_ssize_t pos;
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_ASCII(text) || !as_size(args[1], &pos))
        Py_RETURN_NONE;
    const char *t = (const char *)PyUnicode_1BYTE_DATA(text);
    Py_ssize_t end = PyUnicode_GET_LENGTH(text);
    if (pos < 0 || pos >= end)
        Py_RETURN_NONE;
    /* Check the whole text first: no objects are made for text that is not plain. */
    Py_ssize_t count = 0;
    for (Py_ssize_t i = pos; i < end;) {
        if (t[i] != ';')
            Py_RETURN_NONE;
        Py_ssize_t j = ++i;
        while (i < end && (CLASS[(unsigned char)t[i]] & C_TOKEN))
            i++;
        if (i == j)
            Py_RETURN_NONE;
        if (i < end && t[i] == '=') {
            j = ++i;
            while (i < end && (CLASS[(unsigned char)t[i]] & C_TOKEN))
                i++;
            if (i == j)
                Py_RETURN_NONE;
        }
        count++;
    }
    PyObject *out = PyList_New(count);
    if (out == NULL)
        return NULL;
    Py_ssize_t i = pos;
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t ns = ++i; /* past ";" */
        while (i < end && t[i] != '=' && t[i] != ';')
            i++;
        PyObject *name = ascii_str(t + ns, i - ns), *value = NULL;
        if (name == NULL)
            goto error;
        if (i < end && t[i] == '=') {
            Py_ssize_t vs = ++i;
            while (i < end && t[i] != ';')
                i++;
            value = ascii_str(t + vs, i - vs);
            if (value == NULL) {
                Py_DECREF(name);
                goto error;
            }
        } else {
            value = Py_NewRef(Py_None);
        }
        PyObject *param = PyTuple_New(2);
        if (param == NULL) {
            Py_DECREF(name);
            Py_DECREF(value);
            goto error;
        }
        PyTuple_SET_ITEM(param, 0, name);
        PyTuple_SET_ITEM(param, 1, value);
        PyList_SET_ITEM(out, k, param);
    }
    return out;
error:
    Py_DECREF(out); /* unset items are NULL: list dealloc skips them */
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"split_message", (PyCFunction)(void (*)(void))split_message, METH_FASTCALL,
     split_message_doc},
    {"plain_params", (PyCFunction)(void (*)(void))plain_params, METH_FASTCALL,
     plain_params_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(module_doc,
             "C fast paths of the SIP parser: each returns what the pure-Python code\n"
             "builds for plain input, or None (the caller then runs the Python code).");

static struct PyModuleDef sipfast_module = {
    PyModuleDef_HEAD_INIT, "_sipfast", module_doc, -1, module_methods,
    NULL, NULL, NULL, NULL,
};

/* Once per process: the byte classes and the shared strings. */
static int
init_once(void)
{
    if (SIP_2_0 != NULL)
        return 0;
    static const char token_marks[] = "-.!%*_+`'~";
    for (int c = 0; c < 256; c++) {
        unsigned char k = 0;
        if ((c < 0x20 && c != '\t') || c >= 0x80)
            k |= C_ODD;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c != 0 && strchr(token_marks, c) != NULL))
            k |= C_TOKEN;
        CLASS[c] = k;
    }
    for (int i = 0; i < N_METHODS; i++) {
        METHOD_LENS[i] = (Py_ssize_t)strlen(METHOD_NAMES[i]);
        if (METHODS[i] == NULL &&
            (METHODS[i] = PyUnicode_InternFromString(METHOD_NAMES[i])) == NULL)
            return -1; /* those made stay: reused by the next attempt */
    }
    if (EMPTY == NULL && (EMPTY = PyUnicode_New(0, 127)) == NULL)
        return -1;
    if ((SIP_2_0 = PyUnicode_InternFromString("SIP/2.0")) == NULL)
        return -1;
    return 0;
}

PyMODINIT_FUNC
PyInit__sipfast(void)
{
    if (init_once() < 0)
        return NULL;
    return PyModule_Create(&sipfast_module);
}
