"""Launch Firefox (Gecko) and WebKitGTK's MiniBrowser (WebKit, Safari's engine) for the peer tests.

No WebDriver: each browser opens the test page given on its command line (served by
:class:`_browser_host.PageHost`), the page runs the checks and POSTs its report back.

How each is kept on loopback and made to trust the test CA:

* Firefox (``firefox-esr --headless``): a fresh profile whose ``user.js`` is
  ``firefox-user.js`` (telemetry, updates, Normandy, remote settings, push,
  safe browsing, captive portal, DoH, DNS prefetch and speculative connections
  off) plus proxy prefs pointing at the PageHost trap; the environment sets
  ``MOZ_DISABLE_NONLOCAL_CONNECTIONS=1`` (Firefox's own test-harness switch:
  refuse non-local connections). The CA goes into the profile's NSS database
  with ``certutil -A -t C,,``.
* WebKit (``MiniBrowser`` under its own ``Xvfb``): ``--proxy`` at the PageHost
  trap with ``--ignore-host`` for localhost/127.0.0.1; GSettings in memory, no
  accessibility bus. WebKitGTK verifies TLS with GnuTLS's system trust, a file
  compiled in (/etc/ssl/certs/ca-certificates.crt) that no environment variable
  overrides, so MiniBrowser runs in a private mount namespace (``unshare
  --mount``; ``--map-root-user`` when not root) where that path is bind-mounted
  to the test CA alone. Certificates are verified (no ``--ignore-tls-errors``):
  the tests check that a certificate from another CA is refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
FIREFOX = os.environ.get("WSFRAME_FIREFOX") or shutil.which("firefox-esr") or shutil.which("firefox")
MINIBROWSER = os.environ.get("WSFRAME_MINIBROWSER") or next(
    (p for p in ("/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
                 "/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
                 "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.0/MiniBrowser",
                 "/usr/lib/x86_64-linux-gnu/webkitgtk-6.0/MiniBrowser") if os.path.exists(p)),
    None,
)
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def _base_env(home: Path) -> dict:
    """A minimal environment: a throw-away HOME and XDG dirs, no session bus, no proxies."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    for name, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"),
                      ("XDG_DATA_HOME", "data"), ("XDG_RUNTIME_DIR", "run")):
        path = home / sub
        path.mkdir(mode=0o700, exist_ok=True)
        env[name] = str(path)
    return env


def firefox_command(home: Path, ca_pem: Path, proxy_port: int, url: str) -> tuple[list[str], dict]:
    """(argv, env) for headless Firefox with a fresh profile in ``home`` trusting ``ca_pem``."""
    assert FIREFOX is not None
    profile = home / "profile"
    profile.mkdir()
    certutil = shutil.which("certutil") or "certutil"
    subprocess.run([certutil, "-d", f"sql:{profile}", "-N", "--empty-password"],
                   check=True, capture_output=True, timeout=30)
    subprocess.run([certutil, "-d", f"sql:{profile}", "-A", "-t", "C,,", "-n", "wsframe-test-ca",
                    "-i", str(ca_pem)], check=True, capture_output=True, timeout=30)
    proxy = {
        "network.proxy.type": 1,  # manual: everything not on loopback goes to the trap
        "network.proxy.http": '"127.0.0.1"', "network.proxy.http_port": proxy_port,
        "network.proxy.ssl": '"127.0.0.1"', "network.proxy.ssl_port": proxy_port,
        "network.proxy.share_proxy_settings": "false",
        "network.proxy.allow_hijacking_localhost": "false",
    }
    prefs = (HERE / "firefox-user.js").read_text()
    prefs += "".join(f'user_pref("{k}", {v});\n' for k, v in proxy.items())
    (profile / "user.js").write_text(prefs)
    env = _base_env(home)
    env.update(MOZ_DISABLE_NONLOCAL_CONNECTIONS="1", MOZ_CRASHREPORTER_DISABLE="1",
               MOZ_HEADLESS="1", MOZ_DISABLE_AUTO_SAFE_MODE="1")
    argv = [FIREFOX, "--headless", "--no-remote", "--new-instance", "--profile", str(profile), url]
    return argv, env


def unshare_prefix() -> Optional[list[str]]:
    """The command prefix giving a private mount namespace, or None if this system refuses it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = [unshare, "--mount"] if os.geteuid() == 0 else [unshare, "--map-root-user", "--mount"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
    return prefix if probe.returncode == 0 else None


def webkit_command(home: Path, ca_pem: Path, proxy_port: int, url: str, display: str,
                   prefix: list[str]) -> tuple[list[str], dict]:
    """(argv, env) for MiniBrowser on ``display``, the system CA bundle replaced by ``ca_pem``."""
    assert MINIBROWSER is not None
    env = _base_env(home)
    env.update(DISPLAY=display, GSETTINGS_BACKEND="memory", NO_AT_BRIDGE="1", GTK_A11Y="none",
               WEBKIT_DISABLE_COMPOSITING_MODE="1", LIBGL_ALWAYS_SOFTWARE="1")
    bind = 'mount --bind "$0" "$1" && shift && exec "$@"'
    argv = [*prefix, "--", "sh", "-c", bind, str(ca_pem), SYSTEM_CA_BUNDLE,
            MINIBROWSER, f"--proxy=http://127.0.0.1:{proxy_port}",
            "--ignore-host=localhost", "--ignore-host=127.0.0.1",
            "--enable-dns-prefetching=false", "--enable-hyperlink-auditing=false", url]
    return argv, env
