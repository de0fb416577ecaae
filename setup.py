"""Build the C extension wsframe._speedups (csrc/ + Cython binding).

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


class OptionalBuildExt(build_ext):
    """build_ext that falls back to pure Python when compiling fails."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...
            self._failed(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc):
        if flag("WSFRAME_REQUIRE_EXTENSIONS"):
            raise exc
        sys.stderr.write(f"WARNING: wsframe C extension not built ({exc}); using the pure-Python codec.\n")


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
    ext = Extension(
        "wsframe._speedups",
        sources=["wsframe/_speedups.pyx"] + CSRC,
        include_dirs=["csrc"],
        extra_compile_args=base + extra,
        extra_link_args=link,
    )
    return cythonize([ext], compiler_directives={"language_level": "3"}, quiet=True)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
