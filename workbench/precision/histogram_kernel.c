/* The |x| histogram of calibration (histogram.py's TensorHistogram), in one pass that releases the GIL.

   Why compiled code: numpy's bincount holds the GIL and makes three passes of its own (a cast to intp, a min/max
   scan, the count) after the two that compute the indices, and a separate min and max come before them. The
   calibration pool could never count two tensors at once, and this per-element CPU time is what keeps Entropy2,
   Percentile and Auto calibration over 1.5x the plain forward passes (issue 19). Tried first, not kept: numba (as
   fast, but 45 MB of dependencies and 1.6-2.4 s of compilation at each process's first calibration), and
   boost-histogram and fast-histogram (they release the GIL, but cost more CPU time per element than bincount).

   The extension is optional (setup.py): without a C compiler the workbench installs and histogram.py counts with
   numpy. Both compute an index as trunc(|x| * inverse), in float32 when ``inverse`` is a float32 and in float64
   otherwise, so both give the same counts (tests/precision/test_histogram_kernel.py).

   count(values, inverse, single, fold, counts) -> (min, max, finite, outside)
     values   C-contiguous float32 buffer (the tensor, flat)
     inverse  1 / bin width
     single   compute the products in float32 (true) or float64
     fold     indices past the last bin go into the last bin (true), or are only counted in ``outside``
     counts   C-contiguous int64 writable buffer: one count per bin, added to
   min and max are those of ``values``; finite is false when any value is NaN or infinite (the counting stops
   there: the caller discards ``counts`` and reports the tensor); outside is the number of values whose index is
   past the last bin. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Indices are computed for a block at a time into a small buffer (a loop the compiler vectorizes, staying in the
   L1 cache), then counted. */
#define BLOCK 1024
/* Sub-histograms counted in turn: consecutive equal indices (a ReLU output's zeros) would otherwise each wait for
   the previous increment of the same counter. */
#define WAYS 4
/* The sub-histograms count in 32 bits (half the cache of 64-bit counters); they are added into the int64 counts
   at least this often, so no sub-count can wrap. */
#define FLUSH_EVERY ((Py_ssize_t)1 << 30)

/* The min and max are kept as integer keys: a float's bits, with the magnitude bits flipped for negative values,
   order as signed integers the way the floats do (for every non-NaN value), and integer minima vectorize where
   float ones, under IEEE rules for NaN, do not. */
#define KEY_MAX INT32_MAX
static inline int32_t to_key(float v) {
    int32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits ^ ((bits >> 31) & INT32_MAX);
}
static inline float from_key(int32_t key) {
    const int32_t bits = key ^ ((key >> 31) & INT32_MAX);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}
/* One value's part of the range: its key into the block's min and max, and whether it is NaN or infinite (all
   exponent bits set; an integer test, so the loop vectorizes). */
#define INSPECT(value)                                                      \
    do {                                                                    \
        const int32_t key_ = to_key(value);                                 \
        int32_t bits_;                                                      \
        memcpy(&bits_, &(value), sizeof bits_);                             \
        block_low = key_ < block_low ? key_ : block_low;                    \
        block_high = key_ > block_high ? key_ : block_high;                 \
        bad |= (bits_ & 0x7f800000) == 0x7f800000;                          \
    } while (0)

static void flush(uint32_t *sub, Py_ssize_t bins, int64_t *counts) {
    for (Py_ssize_t b = 0; b < bins; b++) {
        int64_t total = 0;
        for (int w = 0; w < WAYS; w++) {
            total += sub[w * (bins + 1) + b];
            sub[w * (bins + 1) + b] = 0;
        }
        counts[b] += total;
    }
}

static PyObject *count(PyObject *self, PyObject *args) {
    Py_buffer values, counts;
    double inverse;
    int single, fold;
    if (!PyArg_ParseTuple(args, "y*dppw*", &values, &inverse, &single, &fold, &counts)) return NULL;
    PyObject *result = NULL;
    if (values.len % (Py_ssize_t)sizeof(float) != 0 || counts.len % (Py_ssize_t)sizeof(int64_t) != 0 ||
        counts.len == 0) {
        PyErr_SetString(PyExc_ValueError, "count() takes float32 values and at least one int64 count");
        goto done;
    }
    const float *x = (const float *)values.buf;
    const Py_ssize_t n = values.len / (Py_ssize_t)sizeof(float);
    const Py_ssize_t bins = counts.len / (Py_ssize_t)sizeof(int64_t);
    /* one spare counter per sub-histogram (index ``bins``) takes the values past the last bin when not folded */
    uint32_t *sub = calloc((size_t)WAYS * (size_t)(bins + 1), sizeof(uint32_t));
    int32_t *index = malloc(BLOCK * sizeof(int32_t));
    if (sub == NULL || index == NULL) {
        free(sub);
        free(index);
        PyErr_NoMemory();
        goto done;
    }
    int32_t low = KEY_MAX, high = -KEY_MAX - 1;
    int finite = 1;
    Py_ssize_t outside = 0;
    int64_t *out = (int64_t *)counts.buf;
    Py_BEGIN_ALLOW_THREADS
    const float inverse32 = (float)inverse;
    const float past32 = (float)bins;  /* products at or past this have no bin (bins <= 2**24: exact) */
    const double past64 = (double)bins;
    const int32_t spill = fold ? (int32_t)(bins - 1) : (int32_t)bins;
    const float spill32 = (float)spill;
    Py_ssize_t since_flush = 0;
    for (Py_ssize_t start = 0; start < n; start += BLOCK) {
        const Py_ssize_t m = n - start < BLOCK ? n - start : BLOCK;
        const float *block = x + start;
        int32_t block_low = KEY_MAX, block_high = -KEY_MAX - 1, bad = 0;
        if (single) {
            for (Py_ssize_t i = 0; i < m; i++) {
                INSPECT(block[i]);
                /* trunc(|v| * inverse) == |trunc(v * inverse)|: IEEE products and truncation are symmetric in the
                   sign. The product is clamped before it is truncated: a loop the compiler vectorizes. */
                const float p = fabsf(block[i]) * inverse32;
                index[i] = (int32_t)(p < past32 ? p : spill32);
            }
        } else {  /* bins narrower than 1e-38 (denormal-sized values): float64 products, as histogram.py's */
            for (Py_ssize_t i = 0; i < m; i++) {
                INSPECT(block[i]);
                const double p = fabs((double)block[i]) * inverse;
                index[i] = (int32_t)(p < past64 ? p : (double)spill);
            }
        }
        if (bad) {  /* the caller reports the tensor */
            finite = 0;
            break;
        }
        low = block_low < low ? block_low : low;
        high = block_high > high ? block_high : high;
        Py_ssize_t i = 0;
        for (; i + WAYS <= m; i += WAYS) {
            sub[index[i]]++;
            sub[(bins + 1) + index[i + 1]]++;
            sub[2 * (bins + 1) + index[i + 2]]++;
            sub[3 * (bins + 1) + index[i + 3]]++;
        }
        for (; i < m; i++) sub[index[i]]++;
        since_flush += m;
        if (since_flush >= FLUSH_EVERY) {
            for (int w = 0; w < WAYS; w++) {
                outside += sub[w * (bins + 1) + bins];
                sub[w * (bins + 1) + bins] = 0;
            }
            flush(sub, bins, out);
            since_flush = 0;
        }
    }
    if (finite) {
        for (int w = 0; w < WAYS; w++) outside += sub[w * (bins + 1) + bins];
        flush(sub, bins, out);
        if (fold) outside = 0;
    }
    Py_END_ALLOW_THREADS
    free(sub);
    free(index);
    const double lo = n ? (double)from_key(low) : 0.0, hi = n ? (double)from_key(high) : 0.0;
    result = Py_BuildValue("ddOn", lo, hi, finite ? Py_True : Py_False, outside);
done:
    PyBuffer_Release(&values);
    PyBuffer_Release(&counts);
    return result;
}

static PyMethodDef methods[] = {
    {"count", count, METH_VARARGS, "count(values, inverse, single, fold, counts) -> (min, max, finite, outside)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "histogram_kernel",
                                    "The |x| histogram of calibration in one pass, without the GIL.", -1, methods};

PyMODINIT_FUNC PyInit_histogram_kernel(void) { return PyModule_Create(&module); }
