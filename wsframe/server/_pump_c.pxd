# Types for compiling wsframe/server/_pump.py into wsframe.server._pump_c: the
# loop runs as C, and each ready socket's transport is the compiled one
# (wsframe.server._transport_c), whose per-event methods are C calls.

cimport cython
from wsframe.server._transport_c cimport Transport


@cython.locals(t=Transport, fd=Py_ssize_t, ev=int, epfd=int, listen_fd=Py_ssize_t, wakeup_fd=Py_ssize_t,
               now=double, next_sweep=double, sweep_every=double, timeout=double, wake=double)
cpdef run(object server)


# epoll_wait on Linux: a C call.
from wsframe.server._sockio cimport poll_ready
