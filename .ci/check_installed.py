"""Check an installed wsframe (a wheel, from outside the source tree): the C codec and compiled
connection are there, their SIMD level, and on a free-threaded CPython the GIL stays off."""

import os
import sys
import sysconfig

import wsframe
import wsframe.codec as codec
import wsframe.connection as connection

where = os.path.dirname(os.path.abspath(wsframe.__file__))
if os.path.exists(os.path.join(os.path.dirname(where), "setup.py")):
    sys.exit(f"FAILED: wsframe imported from a source tree ({where}), not the installed wheel")
if not (wsframe.speedups_enabled and connection.compiled):
    sys.exit(f"FAILED: wsframe {wsframe.__version__} in {where} runs pure Python")
free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
if free_threaded and sys._is_gil_enabled():  # type: ignore[attr-defined]
    sys.exit("FAILED: importing wsframe's extensions turned the GIL on (not freethreading_compatible)")
print(f"wsframe {wsframe.__version__} from {where}: C codec, SIMD {codec.implementation.simd_level()},"
      f" compiled connection{', free-threaded, GIL off' if free_threaded else ''}")
