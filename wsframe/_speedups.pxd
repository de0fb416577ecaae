# The C kernels the frame parser (wsframe/_parser.py, compiled with
# _parser_c.pxd) calls; their pure-Python twins are in wsframe/_kernels_py.py.

cdef bytes unmask_slice(const unsigned char *src, Py_ssize_t start, Py_ssize_t n, const unsigned char *key,
                        Py_ssize_t kpos, Py_ssize_t phase)
cdef object decode_text(const unsigned char *src, Py_ssize_t start, Py_ssize_t n, bint masked)
