"""Build the C extensions: wsframe._speedups (csrc/ + Cython bindings: the
kernels), wsframe._parser_c (wsframe/_parser.py compiled by Cython) and
wsframe._connection_c (wsframe/_connection.py compiled by Cython).

The extension is optional: with WSFRAME_NO_EXTENSIONS=1, without Cython, or
when compiling fails (no compiler), the package installs without it and
wsframe uses its pure-Python twin. WSFRAME_REQUIRE_EXTENSIONS=1 turns a
failed build into an error (CI). WSFRAME_CFLAGS adds compiler flags (CI
passes -Werror; the sanitizer build passes -fsanitize=...).
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = ["csrc/wsf_cpu.c", "csrc/wsf_mask.c", "csrc/wsf_utf8.c", "csrc/wsf_frame.c"]


def flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


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
            super().build_extension(ext)
        except Exception as exc:
            self._failed(exc, [ext])

    def copy_extensions_to_source(self):
        built = self.extensions
        self.extensions = [e for e in built if e.name not in self._failed_names]
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = built

    def _failed(self, exc, exts):
        if flag("WSFRAME_REQUIRE_EXTENSIONS"):
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
             " (WSFRAME_REQUIRE_EXTENSIONS=1 makes this an error).")


def extensions():
    if flag("WSFRAME_NO_EXTENSIONS"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if flag("WSFRAME_REQUIRE_EXTENSIONS"):
            raise
        sys.stderr.write("WARNING: Cython is not installed; using the pure-Python codec.\n")
        return []
    extra = os.environ.get("WSFRAME_CFLAGS", "").split()
    if os.name != "nt":
        base = ["-O3", "-std=c99", "-Wall", "-Wextra", "-fno-strict-aliasing"]
        link = [f for f in extra if f.startswith("-fsanitize")]
    else:
        base, link = ["/O2"], []
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
    parser = Extension(
        "wsframe._parser_c",
        sources=["wsframe/_parser.py"],
        depends=["wsframe/_parser_c.pxd", "wsframe/_speedups.pxd"],
        extra_compile_args=base + extra,
        extra_link_args=link,
    )
    # The sans-I/O connection: the frame session, wsframe/_session.py compiled
    # with wsframe/_session_c.pxd, and the HTTP/1.1 upgrade handshakes that
    # extend it, wsframe/_upgrade.py with wsframe/_upgrade_c.pxd (each source
    # is also the pure-Python module).
    connection = [
        Extension(
            f"wsframe.{name}_c",
            sources=[f"wsframe/{name}.py"],
            depends=[f"wsframe/{name}_c.pxd"] + deps,
            extra_compile_args=base + extra,
            extra_link_args=link,
        )
        for name, deps in (("_session", ["wsframe/_speedups.pxd"]), ("_upgrade", ["wsframe/_session_c.pxd"]))
    ]
    directives = {"language_level": "3", "boundscheck": False, "wraparound": False, "cdivision": True}
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
    plain = {"language_level": "3", "annotation_typing": False}
    return built + cythonize(connection, compiler_directives=plain, build_dir="build/cython", quiet=True,
                             force=stale("_session.c", ("_session_c.pxd",)) or stale("_upgrade.c", ("_upgrade_c.pxd",)))


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
