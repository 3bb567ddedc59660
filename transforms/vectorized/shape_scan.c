/* The common line shape of JSON Lines, cut into value spans in one pass.

   The C twin of shape.py's `SHAPE` regex (shape.py documents the shape and
   is the exact fallback when this module is not built): for every line of a
   chunk, its start and end, and whether it has the shape

     {"K1":V,...,"Km":V[,"Km+1":V][,"Km+2":S]}

   where K1..Km+2 are the keys passed in (from shape.py: the schema's
   required keys, country, channel), S is a JSON string of printable ASCII
   without escapes that does not start with ':', and V is such a string, a
   JSON number, null, true or false. For each line with the shape, the byte
   spans of its first m + 1 values (an absent Km+1: an empty span at the
   closing brace).

   scan(data, keys, starts, ends, rows, begins, stops) -> (lines, shaped)
     data    bytes-like, whole lines (the last may lack its newline)
     keys    tuple of m + 2 bytes: the keys in order
     starts, ends   int64[n]: each line's first byte and its end (the
                    newline's position, or len(data)); n >= the line count
     rows    int64[n]: the index of each shaped line, in order
     begins, stops  int64[(m + 1) * n]: value j of the k-th shaped line
                    at [j * n + k]
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_KEYS 16

typedef const unsigned char *cursor;

/* A string's character: printable ASCII but '"' and '\'. */
static inline int body(unsigned char c) {
  return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
}

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* S at p: the cursor after it, or NULL. */
static cursor string_at(cursor p, cursor end) {
  if (p >= end || *p != '"') return NULL;
  p++;
  if (p < end && *p != '"') {
    if (!body(*p) || *p == ':') return NULL;
    for (p++; p < end && body(*p); p++) {
    }
  }
  if (p >= end || *p != '"') return NULL;
  return p + 1;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at p. */
static cursor number_at(cursor p, cursor end) {
  if (p < end && *p == '-') p++;
  if (p >= end || !is_digit(*p)) return NULL;
  if (*p == '0') {
    p++;
  } else {
    while (p < end && is_digit(*p)) p++;
  }
  if (p < end && *p == '.') {
    p++;
    if (p >= end || !is_digit(*p)) return NULL;
    while (p < end && is_digit(*p)) p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || !is_digit(*p)) return NULL;
    while (p < end && is_digit(*p)) p++;
  }
  return p;
}

static cursor word_at(cursor p, cursor end, const char *word, size_t len) {
  if ((size_t)(end - p) < len || memcmp(p, word, len) != 0) return NULL;
  return p + len;
}

/* V at p. */
static cursor value_at(cursor p, cursor end) {
  if (p >= end) return NULL;
  switch (*p) {
    case '"': return string_at(p, end);
    case 'n': return word_at(p, end, "null", 4);
    case 't': return word_at(p, end, "true", 4);
    case 'f': return word_at(p, end, "false", 5);
    default: return number_at(p, end);
  }
}

typedef struct {
  char text[80];  /* {"key": or ,"key": */
  size_t len;
} Lead;

/* Whether [p, end) has the shape; the value spans into begin/stop. */
static int shaped(cursor p, cursor end, const Lead *leads, int m,
                  cursor base, int64_t *begin, int64_t *stop) {
  for (int j = 0; j < m; j++) {
    p = word_at(p, end, leads[j].text, leads[j].len);
    if (p == NULL) return 0;
    cursor v = value_at(p, end);
    if (v == NULL) return 0;
    begin[j] = p - base;
    stop[j] = v - base;
    p = v;
  }
  cursor q = word_at(p, end, leads[m].text, leads[m].len);
  if (q != NULL) {
    cursor v = value_at(q, end);
    if (v == NULL) return 0;
    begin[m] = q - base;
    stop[m] = v - base;
    p = v;
  } else {
    begin[m] = -1;
  }
  q = word_at(p, end, leads[m + 1].text, leads[m + 1].len);
  if (q != NULL) {
    p = string_at(q, end);
    if (p == NULL) return 0;
  }
  if (p + 1 != end || *p != '}') return 0;
  if (begin[m] < 0) begin[m] = stop[m] = p - base;
  return 1;
}

static int writable(PyObject *obj, Py_buffer *view, Py_ssize_t items,
                    const char *name) {
  if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
    return 0;
  if (view->len < items * (Py_ssize_t)sizeof(int64_t)) {
    PyErr_Format(PyExc_ValueError, "%s: room for %zd int64 needed", name,
                 items);
    PyBuffer_Release(view);
    return 0;
  }
  return 1;
}

static PyObject *scan(PyObject *Py_UNUSED(self), PyObject *args) {
  Py_buffer data, out[5];
  PyObject *keys, *objs[5];
  static const char *names[5] = {"starts", "ends", "rows", "begins", "stops"};
  if (!PyArg_ParseTuple(args, "y*O!OOOOO", &data, &PyTuple_Type, &keys,
                        &objs[0], &objs[1], &objs[2], &objs[3], &objs[4]))
    return NULL;
  Lead leads[MAX_KEYS];
  Py_ssize_t n_keys = PyTuple_GET_SIZE(keys);
  if (n_keys < 3 || n_keys > MAX_KEYS) {
    PyBuffer_Release(&data);
    return PyErr_Format(PyExc_ValueError, "3 to %d keys expected", MAX_KEYS);
  }
  int m = (int)n_keys - 2, spans = m + 1;
  for (int j = 0; j < n_keys; j++) {
    PyObject *key = PyTuple_GET_ITEM(keys, j);
    Py_ssize_t len = PyBytes_Check(key) ? PyBytes_GET_SIZE(key) : -1;
    if (len < 0 || len + 4 > (Py_ssize_t)sizeof(leads[j].text)) {
      PyBuffer_Release(&data);
      return PyErr_Format(PyExc_ValueError, "key %d: short bytes expected", j);
    }
    leads[j].text[0] = j == 0 ? '{' : ',';
    leads[j].text[1] = '"';
    memcpy(leads[j].text + 2, PyBytes_AS_STRING(key), len);
    leads[j].text[len + 2] = '"';
    leads[j].text[len + 3] = ':';
    leads[j].len = len + 4;
  }
  cursor base = data.buf, end = base + data.len;
  Py_ssize_t lines = 0;
  for (cursor p = base; p < end; lines++) {
    cursor nl = memchr(p, '\n', end - p);
    if (nl == NULL) nl = end;
    p = nl + 1;
  }
  Py_ssize_t got = 0;
  for (; got < 5; got++) {
    Py_ssize_t items = got >= 3 ? spans * lines : lines;
    if (!writable(objs[got], &out[got], items, names[got])) break;
  }
  if (got < 5) {
    while (got-- > 0) PyBuffer_Release(&out[got]);
    PyBuffer_Release(&data);
    return NULL;
  }
  int64_t *starts = out[0].buf, *ends = out[1].buf, *rows = out[2].buf;
  int64_t *begins = out[3].buf, *stops = out[4].buf;
  /* begins and stops hold (spans, stride) items: stride >= lines. */
  Py_ssize_t stride = out[3].len / (Py_ssize_t)sizeof(int64_t) / spans;
  if (out[4].len / (Py_ssize_t)sizeof(int64_t) / spans < stride)
    stride = out[4].len / (Py_ssize_t)sizeof(int64_t) / spans;
  Py_ssize_t k = 0, i = 0;
  Py_BEGIN_ALLOW_THREADS
  int64_t begin[MAX_KEYS], stop[MAX_KEYS];
  for (cursor p = base; p < end; i++) {
    cursor nl = memchr(p, '\n', end - p);
    if (nl == NULL) nl = end;
    starts[i] = p - base;
    ends[i] = nl - base;
    if (shaped(p, nl, leads, m, base, begin, stop)) {
      rows[k] = i;
      for (int j = 0; j < spans; j++) {
        begins[j * stride + k] = begin[j];
        stops[j * stride + k] = stop[j];
      }
      k++;
    }
    p = nl + 1;
  }
  Py_END_ALLOW_THREADS
  for (int j = 0; j < 5; j++) PyBuffer_Release(&out[j]);
  PyBuffer_Release(&data);
  return Py_BuildValue("(nn)", lines, k);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(data, keys, starts, ends, rows, begins, stops) -> (lines, shaped)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "shape_scan", "The common line shape, cut in C.",
    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_shape_scan(void) { return PyModule_Create(&module); }
