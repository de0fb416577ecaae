"""wsframe.integrations.websocket_client: install/uninstall, the version
check, and differential tests against websocket-client's own pure-Python
fallbacks (masking, UTF-8 validation) on random and invalid input."""

from __future__ import annotations

import array
import importlib.util
import itertools
import random
import re
import sys

import pytest

websocket = pytest.importorskip("websocket")

from websocket import _abnf, _utils  # noqa: E402
from websocket._abnf import ABNF  # noqa: E402

from wsframe.integrations import UnsupportedVersion  # noqa: E402
from wsframe.integrations import websocket_client as accel  # noqa: E402
from wsframe.integrations._patch import ANY_VERSION_ENV, version_matches  # noqa: E402

pytestmark = pytest.mark.skipif(not any(version_matches(websocket.__version__, v) for v in accel.TESTED_VERSIONS),
                                reason=f"websocket-client {websocket.__version__} is not a tested version")



def _pure_python_fallbacks():
    """websocket-client's own pure-Python ``_mask`` and ``_validate_utf8``:
    the functions it defines when wsaccel cannot be imported. wsaccel may be
    installed (the bench extra installs it), so fresh copies of
    ``websocket._abnf`` and ``websocket._utils`` are executed with wsaccel
    blocked; sys.modules keeps the real ones."""
    blocked = ("wsaccel", "wsaccel.xormask", "wsaccel.utf8validator")
    saved = {name: sys.modules.get(name, _MISSING) for name in blocked}
    sys.modules.update(dict.fromkeys(blocked))  # None: the import raises ImportError
    try:
        loaded = {}
        for name in ("websocket._abnf", "websocket._utils"):
            spec = importlib.util.find_spec(name)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[name] = module
    finally:
        for name, old in saved.items():
            if old is _MISSING:
                del sys.modules[name]
            else:
                sys.modules[name] = old
    return loaded["websocket._abnf"]._mask, loaded["websocket._utils"]._validate_utf8


_MISSING = object()
# websocket-client's functions as installed (wsaccel's routines when wsaccel
# is installed), captured before anything is patched, and its pure-Python
# fallbacks, which the accelerator must match.
INSTALLED_MASK = _abnf._mask
INSTALLED_UTF8 = _utils._validate_utf8
FALLBACK_MASK, FALLBACK_UTF8 = _pure_python_fallbacks()


@pytest.fixture(autouse=True)
def _uninstalled():
    accel.uninstall()
    yield
    accel.uninstall()


def test_fallbacks_are_websocket_clients_pure_python_functions():
    assert FALLBACK_MASK.__module__ == "websocket._abnf"
    assert FALLBACK_UTF8.__module__ == "websocket._utils"
    # the DFA and the big-int XOR, not wsaccel's routines
    assert "_UTF8D" in FALLBACK_UTF8.__globals__ and "Utf8Validator" not in FALLBACK_UTF8.__code__.co_names
    assert "from_bytes" in FALLBACK_MASK.__code__.co_names
    assert sys.modules["websocket._utils"]._validate_utf8 is INSTALLED_UTF8  # the real module untouched


def test_install_uninstall():
    accel.install()
    assert accel.installed()
    patched = (_abnf._mask, _utils._validate_utf8)
    assert patched[0] is not INSTALLED_MASK and patched[1] is not INSTALLED_UTF8
    accel.install()
    assert (_abnf._mask, _utils._validate_utf8) == patched
    accel.uninstall()
    assert (_abnf._mask, _utils._validate_utf8) == (INSTALLED_MASK, INSTALLED_UTF8)
    accel.uninstall()
    assert not accel.installed()


def test_unknown_version_is_refused(monkeypatch):
    monkeypatch.setattr(websocket, "__version__", "0.1.0")
    with pytest.raises(UnsupportedVersion, match=r"installed websocket-client is 0\.1\.0: nothing was patched"):
        accel.install()
    assert (_abnf._mask, _utils._validate_utf8) == (INSTALLED_MASK, INSTALLED_UTF8)


@pytest.mark.parametrize("version", ["1.8.0", "1.9.0", "1.9.2"])
def test_the_last_two_minor_releases_are_accepted(monkeypatch, version):
    monkeypatch.delenv(ANY_VERSION_ENV, raising=False)
    monkeypatch.setattr(websocket, "__version__", version)
    accel.install()
    assert accel.installed()


@pytest.mark.parametrize("version", ["1.7.0", "1.10.0", "1.80.0", "2.0.0"])
def test_versions_outside_the_range_are_refused(monkeypatch, version):
    monkeypatch.delenv(ANY_VERSION_ENV, raising=False)
    monkeypatch.setattr(websocket, "__version__", version)
    with pytest.raises(UnsupportedVersion, match=f"set {ANY_VERSION_ENV}=1"):
        accel.install()
    assert (_abnf._mask, _utils._validate_utf8) == (INSTALLED_MASK, INSTALLED_UTF8)


def test_the_environment_override_warns_and_patches(monkeypatch):
    monkeypatch.setenv(ANY_VERSION_ENV, "1")
    monkeypatch.setattr(websocket, "__version__", "1.7.0")
    with pytest.warns(RuntimeWarning, match=r"installed websocket-client is 1\.7\.0: patching it anyway"):
        accel.install()
    assert accel.installed() and _abnf._mask is not INSTALLED_MASK


def test_without_websocket_client_install_raises_a_one_line_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "websocket", None)  # the import fails as if it were not installed
    with pytest.raises(accel.LibraryNotInstalled) as info:
        accel.install()
    assert isinstance(info.value, ImportError)
    assert str(info.value) == ("wsframe.integrations.websocket_client.install(): websocket-client is not"
                               " installed (pip install websocket-client)")
    assert not accel.installed()


def test_calls_are_counted_through_the_public_api():
    accel.install()
    frame = ABNF.create_frame("héllo", ABNF.OPCODE_TEXT)
    wire = frame.format()
    assert ABNF.mask(wire[2:6], wire[6:]) == "héllo".encode()
    assert _utils.validate_utf8("héllo".encode()) is True
    assert accel.stats() == {"mask": 2, "utf8": 1}


# ---------------------------------------------------------------------------
# Differential: masking
# ---------------------------------------------------------------------------


def test_mask_matches_fallback():
    rng = random.Random(1)
    accel.install()
    fast = _abnf._mask
    for n in itertools.chain(range(0, 70), (127, 128, 1000, 4097, 65536 + 3)):
        data = bytes(rng.getrandbits(8) for _ in range(n))
        key = bytes(rng.getrandbits(8) for _ in range(4))
        args = (array.array("B", key), array.array("B", data))
        assert fast(*args) == FALLBACK_MASK(*args)
        # and through ABNF.mask with str keys and data, as websocket-client allows
        assert ABNF.mask(key.decode("latin-1"), data.decode("latin-1")) == FALLBACK_MASK(*args)


def test_mask_with_a_key_that_is_not_4_bytes_keeps_websocket_clients_function():
    """Such a key is handed to the function installed before (wsaccel's,
    which raises ValueError, or the pure-Python one): same result, same error."""
    accel.install()
    for key in (b"", b"ab", b"abcde"):
        args = (array.array("B", key), array.array("B", b"0123456789"))
        try:
            expected = INSTALLED_MASK(*args)
        except Exception as exc:  # wsaccel: "mask should be 4byte."
            with pytest.raises(type(exc), match=re.escape(str(exc))):
                _abnf._mask(*args)
        else:
            assert _abnf._mask(*args) == expected


# ---------------------------------------------------------------------------
# Differential: UTF-8 validation
# ---------------------------------------------------------------------------

INVALID = [
    b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf",  # lone continuation, overlong 2-byte
    b"\xe0\x80\x80", b"\xe0\x9f\xbf",  # overlong 3-byte
    b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf",  # overlong 4-byte
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\x80\xed\xb0\x80",  # surrogates, a pair
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\xfe",  # above U+10FFFF, never valid
    b"\xc2", b"\xe2\x82", b"\xf0\x9f\x98",  # truncated (the fallback accepts these: its quirk)
    b"\xc2\x41", b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc",  # bad continuation
]
VALID = ["", "a", "é", "€", "😀", "\u07ff", "\u0800", "\uffff", "\U00010000", "\U0010ffff", "\ud7ff", "\ue000"]


def test_utf8_matches_fallback_on_known_cases():
    accel.install()
    fast = _utils._validate_utf8
    for bad in INVALID:
        for prefix, suffix in itertools.product((b"", b"abc", "é".encode()), (b"", b"xyz", "😀".encode())):
            data = prefix + bad + suffix
            assert fast(data) == FALLBACK_UTF8(data), data
    for text in VALID:
        data = text.encode()
        assert fast(data) is FALLBACK_UTF8(data) is True


def test_utf8_matches_fallback_on_every_length_and_random_input():
    rng = random.Random(2)
    accel.install()
    fast = _utils._validate_utf8
    alphabet = [c.encode() for c in VALID if c] + INVALID
    for n in range(0, 65):
        for _ in range(40):
            # random bytes, and mostly-valid text with one defect at a random place
            raw = bytes(rng.getrandbits(8) for _ in range(n))
            assert fast(raw) == FALLBACK_UTF8(raw), raw
            text = b"".join(rng.choice(alphabet[:11]) for _ in range(n // 2 + 1))[:n]
            assert fast(text) == FALLBACK_UTF8(text), text
            if n:
                i = rng.randrange(n)
                mixed = text[:i] + rng.choice(alphabet) + text[i:]
                assert fast(mixed) == FALLBACK_UTF8(mixed), mixed


def _outcome(text):
    try:
        return _utils.validate_utf8(text)
    except Exception as exc:  # websocket-client 1.8's own function fails on some str input
        return type(exc)


def _passes_str_through():
    """websocket-client 1.9 encodes a str before calling _validate_utf8; 1.8 passes it as it is."""
    seen = []
    _utils._validate_utf8, saved = seen.append, _utils._validate_utf8
    try:
        _utils.validate_utf8("x")
    finally:
        _utils._validate_utf8 = saved
    return isinstance(seen[0], str)


def test_validate_utf8_on_str_matches():
    # A str that reaches _validate_utf8 (1.8) goes to the function it replaced; bytes (1.9) to wsframe,
    # which must then answer as websocket-client's pure-Python fallback.
    reference = INSTALLED_UTF8 if _passes_str_through() else FALLBACK_UTF8
    accel.install()
    for text in VALID + ["\ud800", "a\udfffb"]:  # lone surrogates encode with surrogatepass
        _utils._validate_utf8, fast = reference, _utils._validate_utf8
        expected = _outcome(text)
        _utils._validate_utf8 = fast
        assert _outcome(text) == expected, text
