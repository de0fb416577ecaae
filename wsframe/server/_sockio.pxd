# The C twins of wsframe/server/_sockio_py.py, cimported by the compiled transport.

cpdef Py_ssize_t sock_recv_into(object sock, int fd, bytearray buf) except -1
cpdef Py_ssize_t sock_send(object sock, int fd, object data) except -1
cpdef list poll_ready(object poller, int epfd, double timeout)
