# cython: language_level=3, freethreading_compatible=True
"""Non-blocking ``recv``/``send`` on a socket's descriptor, for the compiled selectors transport.

One C call each, without the socket methods' argument parsing and GIL round
trip (the sockets are non-blocking: the call never waits). Errors are raised
as the socket methods raise them (``OSError`` from errno: ``BlockingIOError``
for EAGAIN). On Windows the socket methods themselves are called.
:func:`poll_ready` is ``epoll_wait`` on Linux (the GIL released while it
waits), the poller's ``poll`` elsewhere.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals, PyErr_SetFromErrno

cdef extern from *:
    """
    #if defined(_WIN32)
    #include <errno.h>
    #define WSF_POSIX_IO 0
    static Py_ssize_t wsf_recv(int fd, char *buf, Py_ssize_t n) { (void)fd; (void)buf; (void)n; errno = ENOSYS; return -1; }
    static Py_ssize_t wsf_send(int fd, const char *buf, Py_ssize_t n) { (void)fd; (void)buf; (void)n; errno = ENOSYS; return -1; }
    #else
    #include <errno.h>
    #include <sys/types.h>
    #include <sys/socket.h>
    #define WSF_POSIX_IO 1
    #ifndef MSG_NOSIGNAL
    #define MSG_NOSIGNAL 0
    #endif
    static Py_ssize_t wsf_recv(int fd, char *buf, Py_ssize_t n) { return (Py_ssize_t)recv(fd, buf, (size_t)n, 0); }
    static Py_ssize_t wsf_send(int fd, const char *buf, Py_ssize_t n) { return (Py_ssize_t)send(fd, buf, (size_t)n, MSG_NOSIGNAL); }
    #endif
    #define wsf_eintr() (errno == EINTR)
    #if defined(__linux__)
    #include <sys/epoll.h>
    #define WSF_EPOLL 1
    #define WSF_EPOLL_MAX 256
    typedef struct { struct epoll_event ev[WSF_EPOLL_MAX]; } wsf_epoll_events;
    static int wsf_epoll_wait(int epfd, wsf_epoll_events *evs, int timeout_ms) {
        return epoll_wait(epfd, evs->ev, WSF_EPOLL_MAX, timeout_ms);
    }
    static int wsf_event_fd(const wsf_epoll_events *evs, int i) { return evs->ev[i].data.fd; }
    static unsigned int wsf_event_bits(const wsf_epoll_events *evs, int i) { return (unsigned int)evs->ev[i].events; }
    #else
    #define WSF_EPOLL 0
    #define WSF_EPOLL_MAX 1
    typedef struct { int fd; unsigned int events; } wsf_epoll_events;
    static int wsf_epoll_wait(int epfd, wsf_epoll_events *evs, int timeout_ms) {
        (void)epfd; (void)evs; (void)timeout_ms; errno = ENOSYS; return -1;
    }
    static int wsf_event_fd(const wsf_epoll_events *evs, int i) { (void)i; return evs->fd; }
    static unsigned int wsf_event_bits(const wsf_epoll_events *evs, int i) { (void)i; return evs->events; }
    #endif
    """
    int WSF_POSIX_IO
    Py_ssize_t wsf_recv(int fd, char *buf, Py_ssize_t n)
    Py_ssize_t wsf_send(int fd, const char *buf, Py_ssize_t n)
    bint wsf_eintr()
    int WSF_EPOLL
    ctypedef struct wsf_epoll_events:
        pass
    int wsf_epoll_wait(int epfd, wsf_epoll_events *evs, int timeout_ms) nogil
    int wsf_event_fd(const wsf_epoll_events *evs, int i)
    unsigned int wsf_event_bits(const wsf_epoll_events *evs, int i)


cdef enum:
    SMALL_READ = 2048  # a read this short is copied into a bytes object: cheaper than a memoryview


cpdef object sock_recv(object sock, Py_ssize_t fd, bytearray buf, object view):
    """Read into ``buf`` (``view``: a memoryview of it); the bytes read (empty at end of stream):
    a bytes copy of a short read, else a view of ``buf`` (valid until the next read)."""
    cdef Py_ssize_t r
    cdef char *p = PyByteArray_AS_STRING(buf)
    if not WSF_POSIX_IO:
        r = sock.recv_into(view)
    else:
        while True:
            r = wsf_recv(<int>fd, p, PyByteArray_GET_SIZE(buf))  # (POSIX descriptors are ints)
            if r >= 0:
                break
            if not wsf_eintr():
                PyErr_SetFromErrno(OSError)
            PyErr_CheckSignals()  # a signal handler's exception propagates (as the socket method's)
    if r <= SMALL_READ:
        return PyBytes_FromStringAndSize(p, r)
    return view[:r]


cpdef Py_ssize_t sock_send(object sock, Py_ssize_t fd, object data) except -1:
    cdef Py_ssize_t r
    cdef const char *p
    cdef Py_ssize_t n
    if not WSF_POSIX_IO:
        return sock.send(data)
    if type(data) is bytes:
        p = PyBytes_AS_STRING(data)
        n = PyBytes_GET_SIZE(data)
    elif type(data) is bytearray:
        p = PyByteArray_AS_STRING(data)
        n = PyByteArray_GET_SIZE(data)
    else:
        return sock.send(data)
    while True:
        r = wsf_send(<int>fd, p, n)
        if r >= 0:
            return r
        if not wsf_eintr():
            PyErr_SetFromErrno(OSError)
            return -1
        if PyErr_CheckSignals() < 0:
            return -1


cpdef list poll_ready(object poller, int epfd, double timeout):
    """The ready ``(fd, event bits)`` pairs, waiting at most ``timeout`` seconds (< 0: no limit)."""
    cdef wsf_epoll_events evs
    cdef int ms, n, i
    cdef double t
    if not WSF_EPOLL or epfd < 0:
        return poller.poll(timeout)
    if timeout < 0.0:
        ms = -1
    else:
        t = timeout * 1000.0
        if t > 2147483647.0:
            t = 2147483647.0
        ms = <int>t
        if ms < t:  # round up, as select.epoll does: never wake before the deadline
            ms += 1
    with nogil:
        n = wsf_epoll_wait(epfd, &evs, ms)
    if n < 0 and not wsf_eintr():
        PyErr_SetFromErrno(OSError)
    # Run the Python signal handlers now: the compiled loop may execute no Python code
    # between two waits, so a signal caught outside epoll_wait (no EINTR) would wait
    # forever. A handler's exception (KeyboardInterrupt) propagates; the events are
    # reported again by the next wait (level-triggered).
    PyErr_CheckSignals()
    if n < 0:  # EINTR: a spurious wake-up
        return []
    cdef list ready = []
    for i in range(n):
        ready.append((wsf_event_fd(&evs, i), wsf_event_bits(&evs, i)))
    return ready
