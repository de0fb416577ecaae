"""Build the C extensions ("speedups"): wsframe._speedups (csrc/ + Cython
bindings: the kernels), and wsframe._parser_c, wsframe._session_c,
wsframe._upgrade_c, wsframe._driver_c, wsframe.server._transport_c,
wsframe.server._pump_c and wsframe.server._wssend_c (wsframe/_parser.py,
_session.py, _upgrade.py, _driver.py, server/transport.py, server/_pump.py and
server/_wssend.py compiled by Cython), and wsframe.server._sockio (the
selectors server's recv/send/epoll_wait in C).

The extensions are optional: with WSFRAME_NO_SPEEDUPS=1, without Cython, or
when compiling fails (no compiler), the package installs without them and
wsframe uses its pure-Python twin (and says so when imported).
WSFRAME_REQUIRE_SPEEDUPS=1 turns a failed build into an error (CI, wheels).
WSFRAME_NO_EXTENSIONS and WSFRAME_REQUIRE_EXTENSIONS are older names of the
same switches. WSFRAME_CFLAGS adds compiler flags (CI passes -Werror; the
sanitizer build passes -fsanitize=...).
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = ["csrc/wsf_cpu.c", "csrc/wsf_mask.c", "csrc/wsf_utf8.c", "csrc/wsf_frame.c", "csrc/wsf_avx2.c",
        "csrc/wsf_avx512.c"]
# MSVC has no per-function target attribute: these files get their own /arch flag.
MSVC_ARCH = {"csrc/wsf_avx2.c": "/arch:AVX2", "csrc/wsf_avx512.c": "/arch:AVX512"}
NO_SPEEDUPS = ("WSFRAME_NO_SPEEDUPS", "WSFRAME_NO_EXTENSIONS")
REQUIRE_SPEEDUPS = ("WSFRAME_REQUIRE_SPEEDUPS", "WSFRAME_REQUIRE_EXTENSIONS")


def flag(names):
    return any(os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no") for name in names)


def warn(message):
    """Print a build warning where the user sees it: pip hides a build's
    output unless -v, so it also goes to the terminal (/dev/tty) when there is one."""
    line = f"WARNING: {message}\n"
    sys.stderr.write(line)
    sys.stderr.flush()
    if sys.stderr.isatty():
        return
    try:
        with open("/dev/tty", "w") as tty:
            tty.write(line)
    except OSError:  # no controlling terminal (CI, Windows)
        pass


class OptionalBuildExt(build_ext):
    """build_ext that falls back to pure Python when compiling fails.

    A failed extension leaves no file behind: its output in build/ (which
    `pip install .` reuses between builds) and, for in-place or editable
    builds, its copy in the source tree are removed, so an extension built
    from older sources is never installed or imported.
    """

    def run(self):
        self._failed_names = set()
        self._to_source = bool(self.inplace or getattr(self, "editable_mode", False))
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...
            self._failed(exc, self.extensions)

    def build_extension(self, ext):
        try:
            if self.compiler.compiler_type == "msvc" and "amd64" in (self.plat_name or "").lower():
                self._msvc_arch_objects(ext)
            super().build_extension(ext)
        except Exception as exc:
            self._failed(exc, [ext])

    def _msvc_arch_objects(self, ext):
        """Compile the AVX2/AVX-512 kernel files with their /arch flag and link
        them as objects (run-time dispatch picks them only on a CPU that has them)."""
        special = [src for src in ext.sources if src.replace(os.sep, "/") in MSVC_ARCH]
        if not special:
            return
        ext.sources = [src for src in ext.sources if src not in special]
        for src in special:
            args = list(ext.extra_compile_args or []) + [MSVC_ARCH[src.replace(os.sep, "/")]]
            ext.extra_objects = list(ext.extra_objects or []) + self.compiler.compile(
                [src], output_dir=self.build_temp, include_dirs=ext.include_dirs, extra_postargs=args)

    def copy_extensions_to_source(self):
        built = self.extensions
        self.extensions = [e for e in built if e.name not in self._failed_names]
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = built

    def _failed(self, exc, exts):
        if flag(REQUIRE_SPEEDUPS):
            raise exc
        for ext in exts:
            self._failed_names.add(ext.name)
            filename = self.get_ext_filename(self.get_ext_fullname(ext.name))
            stale = [os.path.join(self.build_lib, filename)]
            if self._to_source:
                stale.append(os.path.join(HERE, filename))
            for path in stale:
                if os.path.exists(path):
                    os.remove(path)
                    sys.stderr.write(f"removed the stale {path}\n")
        reason = " ".join(str(exc).split())
        warn(f"wsframe's C extension was not built ({reason}); wsframe will run its pure-Python codec,"
             " several times slower. Install a C compiler and the Python headers, then reinstall"
             " (WSFRAME_REQUIRE_SPEEDUPS=1 makes this an error).")


def extensions():
    if flag(NO_SPEEDUPS):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if flag(REQUIRE_SPEEDUPS):
            raise
        warn("Cython is not installed: wsframe's C extension is not built; wsframe will run its"
             " pure-Python codec (pip install \"setuptools>=77\" \"Cython>=3.1\", then reinstall).")
        return []
    extra = os.environ.get("WSFRAME_CFLAGS", "").split()
    if os.name != "nt":
        # -Wno-missing-field-initializers: Cython's type objects leave out fields newer
        # CPythons add (3.15: tp_iteritem), which -Wextra -Werror would reject.
        base = ["-O3", "-std=c99", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-fno-strict-aliasing"]
        link = [f for f in extra if f.startswith("-fsanitize")]
    else:  # MSVC
        base, link = ["/O2", "/W3"], []

    def ext(name, source, depends=()):
        """One extension module of Python or Cython source, with the flags above."""
        return Extension(name, sources=[source], depends=list(depends), extra_compile_args=base + extra,
                         extra_link_args=link)

    kernels = Extension(
        "wsframe._speedups",
        sources=["wsframe/_speedups.pyx"] + CSRC,
        depends=["csrc/wsframe_core.h", "csrc/wsf_internal.h"],
        include_dirs=["csrc"],
        extra_compile_args=base + extra,
        extra_link_args=link,
    )
    # The frame parser: wsframe/_parser.py compiled with wsframe/_parser_c.pxd
    # (the same source is the pure-Python parser); it calls the kernels of
    # _speedups through cimport, so it links no C of its own.
    parser = ext("wsframe._parser_c", "wsframe/_parser.py", ["wsframe/_parser_c.pxd", "wsframe/_speedups.pxd"])
    # The sans-I/O connection: the frame session, wsframe/_session.py compiled
    # with wsframe/_session_c.pxd, and the HTTP/1.1 upgrade handshakes that
    # extend it, wsframe/_upgrade.py with wsframe/_upgrade_c.pxd (each source
    # is also the pure-Python module).
    connection = [
        ext(f"wsframe.{name}_c", f"wsframe/{name}.py", [f"wsframe/{name}_c.pxd"] + deps)
        for name, deps in (("_session", ["wsframe/_speedups.pxd"]), ("_upgrade", ["wsframe/_session_c.pxd"]))
    ]
    # The selectors server's per-connection path: the transport rules
    # (wsframe/_driver.py with _driver_c.pxd) and the transport that extends
    # them (wsframe/server/transport.py with server/_transport_c.pxd), as
    # extension types with C fields; the pure modules stay the fallback.
    server = [
        ext("wsframe._driver_c", "wsframe/_driver.py", ["wsframe/_driver_c.pxd"]),
        # recv/send on the descriptor, for the compiled transport (the socket methods on Windows).
        ext("wsframe.server._sockio", "wsframe/server/_sockio.pyx", ["wsframe/server/_sockio.pxd"]),
        ext("wsframe.server._transport_c", "wsframe/server/transport.py",
            ["wsframe/server/_transport_c.pxd", "wsframe/_driver_c.pxd", "wsframe/server/_sockio.pxd"]),
        # ServerWebSocket.send and ping (wsframe/server/_wssend.py): no Python frame per message sent.
        ext("wsframe.server._wssend_c", "wsframe/server/_wssend.py"),
        # Pub/sub's per-subscriber write and the end-of-pass send (wsframe/server/_pubsub.py):
        # run once per subscriber per publish, so no interpreted frame there either.
        ext("wsframe.server._pubsub_c", "wsframe/server/_pubsub.py"),
        # The loop (wsframe/server/_pump.py with server/_pump_c.pxd): C, calling the compiled transport.
        ext("wsframe.server._pump_c", "wsframe/server/_pump.py",
            ["wsframe/server/_pump_c.pxd", "wsframe/server/_transport_c.pxd", "wsframe/_driver_c.pxd",
             "wsframe/server/_sockio.pxd"]),
    ]
    # freethreading_compatible: the modules declare Py_MOD_GIL_NOT_USED, so a
    # free-threaded CPython (3.14t) keeps the GIL off when importing them.
    directives = {"language_level": "3", "boundscheck": False, "wraparound": False, "cdivision": True,
                  "freethreading_compatible": True}
    # Generated C goes under build/, not next to the sources. Cython does not
    # see that _parser.py depends on _parser_c.pxd (another name): a newer
    # .pxd forces the translation.
    def stale(source, pxds):
        generated = os.path.join("build", "cython", "wsframe", source)
        paths = [os.path.join("wsframe", name) for name in pxds]
        return os.path.exists(generated) and max(map(os.path.getmtime, paths)) > os.path.getmtime(generated)

    built = cythonize([kernels, parser], compiler_directives=directives, build_dir="build/cython", quiet=True,
                      force=stale("_parser.c", ("_parser_c.pxd", "_speedups.pxd")))
    # Ordinary Python code: Python's index semantics (bounds checks, negative
    # indices) and annotations that do not restrict argument types
    # (``data: bytes`` also takes a memoryview).
    plain = {"language_level": "3", "annotation_typing": False, "freethreading_compatible": True}
    built += cythonize(connection, compiler_directives=plain, build_dir="build/cython", quiet=True,
                       force=stale("_session.c", ("_session_c.pxd",)) or stale("_upgrade.c", ("_upgrade_c.pxd",)))
    built += cythonize(server, compiler_directives=plain, build_dir="build/cython", quiet=True,
                       force=stale("_driver.c", ("_driver_c.pxd",))
                       or stale("server/transport.c", ("server/_transport_c.pxd", "_driver_c.pxd",
                                                       "server/_sockio.pxd"))
                       or stale("server/_pump.c", ("server/_pump_c.pxd", "server/_transport_c.pxd",
                                                   "_driver_c.pxd", "server/_sockio.pxd")))
    # -- the asyncio layer (helper coro, issue 19): the cores of the transport
    # driver, the WebSocket and the callback API's protocol, wsframe/asyncio/
    # protocol.py, connection.py and app_protocol.py compiled with their
    # _<name>_c.pxd (each source is also the pure-Python module, which takes
    # the compiled class when built).
    AIO_CORES = ("protocol", "connection", "app_protocol")
    aio = [
        ext(f"wsframe.asyncio._{name}_c", f"wsframe/asyncio/{name}.py",
            sorted({f"wsframe/asyncio/_{name}_c.pxd", "wsframe/asyncio/_protocol_c.pxd"}))
        for name in AIO_CORES
    ]
    # A newer .pxd (the cores' is shared through cimport) retranslates all three.
    aio_c = [os.path.join("build", "cython", "wsframe", "asyncio", f"{n}.c") for n in AIO_CORES]
    aio_pxd = [os.path.join("wsframe", "asyncio", f"_{n}_c.pxd") for n in AIO_CORES]
    aio_stale = all(map(os.path.exists, aio_c)) and max(map(os.path.getmtime, aio_pxd)) > min(map(os.path.getmtime, aio_c))
    return built + cythonize(aio, compiler_directives=plain, build_dir="build/cython", quiet=True, force=aio_stale)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
