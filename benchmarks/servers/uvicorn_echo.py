"""Echo server: the plain ASGI echo app (asgi_echo.py) under uvicorn on uvloop,
with the WebSocket implementation given by ``--ws``.

    python benchmarks/servers/uvicorn_echo.py PORT [HOST] --ws websockets-sansio|wsproto|wsframe

``--ws wsframe`` is ``wsframe.uvicorn:WSFrameProtocol`` (the same as
``uvicorn --ws wsframe.uvicorn:WSFrameProtocol``); the others are uvicorn's
built-in implementations. Everything else is the same for all three: one
worker, uvloop, httptools when installed (else h11), permessage-deflate off,
no access log, no keepalive pings, 16 MiB message limit.
"""

import importlib.util
import sys

from _common import parse_args

WS = {"websockets-sansio": "websockets-sansio", "wsproto": "wsproto",
      "wsframe": "wsframe.uvicorn:WSFrameProtocol"}


def _take_ws() -> str:
    if "--ws" not in sys.argv:
        sys.exit("usage: uvicorn_echo.py PORT [HOST] --ws " + "|".join(WS))
    i = sys.argv.index("--ws")
    name = sys.argv[i + 1] if i + 1 < len(sys.argv) else ""
    del sys.argv[i:i + 2]
    if name not in WS:
        sys.exit(f"uvicorn_echo.py: --ws must be one of {', '.join(WS)}")
    return WS[name]


def main() -> None:
    ws = _take_ws()
    host, port = parse_args("uvicorn_echo.py")
    import uvicorn

    from asgi_echo import app

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    print(f"uvicorn echo on ws://{host}:{port}/ (--ws {ws}, --http {http}, uvloop)", flush=True)
    uvicorn.run(app, host=host, port=port, loop="uvloop", http=http, ws=ws, ws_per_message_deflate=False,
                ws_max_size=1 << 24, ws_ping_interval=None, ws_ping_timeout=None, lifespan="off",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
