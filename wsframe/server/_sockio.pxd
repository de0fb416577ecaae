# The C twins of wsframe/server/_sockio_py.py, cimported by the compiled transport.

cpdef object sock_recv(object sock, Py_ssize_t fd, bytearray buf, object view)
cpdef Py_ssize_t sock_send(object sock, Py_ssize_t fd, object data) except -1
cpdef list poll_ready(object poller, int epfd, double timeout)
