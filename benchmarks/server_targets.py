"""The targets of issues 9, 10, 12 and 19, judged on ratios measured in one run.

Every check is a dict: ``target`` (what the issue asks), ``row`` (the row or
case it is judged on), ``ratio`` (measured, None when a side did not run),
``op`` (">=" or "<="), ``need`` (the target ratio), ``met`` (True, False or
None), ``detail`` (the operands). Server checks come from the server
benchmarks' results (:func:`server_checks`), the send and receive checks from
the micro benchmarks' targets (:func:`micro_checks`); :func:`markdown` draws
one table of both.

Ratios are of medians over the interleaved repeats of the same run.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from .server_specs import (ASYNCIO_APP_UVLOOP, ASYNCIO_UVLOOP, CEILING, ECHO_ROWS, HYPERCORN, HYPERCORN_ACCEL,
                           MEMORY_ROW, PICOWS, UVICORN_BUILTINS, UVICORN_WSFRAME, WSFRAME, WSFRAME_BUILTIN, Row)

# (case, params) of the micro benchmarks' targets that issue 12 sets (see cases.TARGETS).
MICRO_TARGETS = (("send", "picows", 1.0), ("receive", "picows", 3.5))
# Issue 19: the receive path must not regress from what it was when the issue was filed (5.2x picows at 16 B);
# judged on the same measured ratio as issue 12's receive target.
RECEIVE_FLOOR = ("receive", "picows", 3.5, "16B", 5.2)


def _index(results: List[dict]) -> Dict[Tuple[str, str], dict]:
    """(server, row key) -> result, for rows that ran and measured something (rate > 0)."""
    return {(r["server"], r["row"]): r for r in results if r.get("status") == "ok" and (r.get("rate") or 0) > 0}


def _check(target: str, row: str, ratio: Optional[float], op: str, need: float, detail: str) -> dict:
    met = None if ratio is None else (ratio >= need if op == ">=" else ratio <= need)
    return {"target": target, "row": row, "ratio": ratio, "op": op, "need": need, "met": met, "detail": detail}


def _us(v: Optional[float]) -> str:
    return "?" if v is None else f"{v:.2f} µs" if v < 10 else f"{v:.1f} µs"


def _rate(v: float) -> str:
    return f"{v / 1e3:.1f}k/s" if v < 1e6 else f"{v / 1e6:.2f}M/s"


def server_checks(results: List[dict]) -> List[dict]:
    """The server targets, each on every row it names; a side that did not run gives ratio None."""
    idx = _index(results)
    out: List[dict] = []

    def get(server: str, row: Row) -> Optional[dict]:
        return idx.get((server, row.key))

    def cpu(r: Optional[dict]) -> Optional[float]:
        v = r.get("server_us_per_op") if r else None
        return v if v and v > 0 else None

    def vs_picows(server, rate_name, cpu_name):
        """msg/s and CPU/msg of ``server`` against picows, >= 1.0x on every echo row."""
        for row in ECHO_ROWS:
            a, p = get(server, row), get(PICOWS, row)
            out.append(_check(rate_name, row.label, a["rate"] / p["rate"] if a and p else None, ">=", 1.0,
                              f"{_rate(a['rate'])} vs {_rate(p['rate'])}" if a and p else "not run"))
            ca, cp = cpu(a), cpu(p)
            out.append(_check(cpu_name, row.label, cp / ca if ca and cp else None, ">=", 1.0,
                              f"{_us(ca)} vs {_us(cp)}"))

    # Issue 19: the callback API on uvloop (serve(app=...)) >= 1.0x picows on every row, msg/s and CPU/msg.
    vs_picows(ASYNCIO_APP_UVLOOP, "callback API on uvloop vs picows, messages/s (issue 19)",
              "callback API on uvloop vs picows, server CPU/msg (picows / callback; issue 19)")
    # Issues 9 and 19: the coroutine API on uvloop >= 1.0x picows on every row by msg/s (issue 9: and by CPU/msg).
    vs_picows(ASYNCIO_UVLOOP, "asyncio server on uvloop vs picows, messages/s (coroutine API; issues 9, 19)",
              "asyncio server on uvloop vs picows, server CPU/msg (picows / coroutine API; issue 9)")
    # Issues 9 and 19: uvicorn + wsframe vs uvicorn's best built-in (the faster per row): 2x pipelined,
    # 1.2x ping-pong; memory <= half (issue 9).
    for row in ECHO_ROWS:
        w = get(UVICORN_WSFRAME, row)
        builtins = [(name, get(name, row)) for name in UVICORN_BUILTINS]
        builtins = [(n, r) for n, r in builtins if r]
        best = max(builtins, key=lambda nr: nr[1]["rate"]) if builtins else None
        need = 2.0 if row.pipelined else 1.2
        ratio = w["rate"] / best[1]["rate"] if w and best else None
        detail = (f"{_rate(w['rate'])} vs {best[0].split(' + ')[1]} {_rate(best[1]['rate'])}; server CPU/msg "
                  f"{_us(cpu(w))} vs {_us(cpu(best[1]))}") if w and best else "not run"
        out.append(_check("uvicorn + wsframe vs uvicorn's best built-in, messages/s (issues 9, 19)", row.label,
                          ratio, ">=", need, detail))
    w = get(UVICORN_WSFRAME, MEMORY_ROW)
    builtins = [(name, get(name, MEMORY_ROW)) for name in UVICORN_BUILTINS]
    builtins = [(n, r) for n, r in builtins if r and r["rate"] > 0]
    least = min(builtins, key=lambda nr: nr[1]["rate"]) if builtins else None
    ok = w and least and w["rate"] > 0
    out.append(_check("uvicorn + wsframe memory per idle connection <= half of the built-ins' (theirs / ours)",
                      MEMORY_ROW.label, least[1]["rate"] / w["rate"] if ok else None, ">=", 2.0,
                      f"{w['rate'] / 1024:.1f} KiB vs {least[0].split(' + ')[1]} {least[1]['rate'] / 1024:.1f} KiB"
                      if ok else "not run"))
    # Issue 12: a user-written Application costs what the built-in echo costs (server CPU per message).
    for row in ECHO_ROWS:
        u, b = cpu(get(WSFRAME, row)), cpu(get(WSFRAME_BUILTIN, row))
        out.append(_check("user-written Application vs built-in echo, server CPU/msg (app / built-in)", row.label,
                          u / b if u and b else None, "<=", 1.05, f"{_us(u)} vs {_us(b)}"))
    row = next(r for r in ECHO_ROWS if r.conns == 64 and r.window == 16 and r.size == 16)
    u, c = cpu(get(WSFRAME, row)), cpu(get(CEILING, row))
    out.append(_check("user-written Application vs the C epoll ceiling, server CPU/msg (app / C)", row.label,
                      u / c if u and c else None, "<=", 2.0, f"{_us(u)} vs {_us(c)}"))
    # Issue 12: one connection, ping-pong: server CPU per message at most picows's.
    for row in (r for r in ECHO_ROWS if r.conns == 1 and r.window == 1):
        u, p = cpu(get(WSFRAME, row)), cpu(get(PICOWS, row))
        out.append(_check("user-written Application vs picows, one-connection ping-pong server CPU/msg "
                          "(wsframe / picows)", row.label, u / p if u and p else None, "<=", 1.0,
                          f"{_us(u)} vs {_us(p)}"))
    # Issue 10: hypercorn gains measurably with the wsproto accelerator.
    for row in ECHO_ROWS:
        a, h = get(HYPERCORN_ACCEL, row), get(HYPERCORN, row)
        out.append(_check("hypercorn with / without wsframe's wsproto accelerator, messages/s", row.label,
                          a["rate"] / h["rate"] if a and h else None, ">=", 1.0,
                          f"{_rate(a['rate'])} vs {_rate(h['rate'])}; server CPU/msg {_us(cpu(a))} vs {_us(cpu(h))}"
                          if a and h else "not run"))
    return out


def micro_checks(targets: Iterable[dict], results: Iterable = ()) -> List[dict]:
    """The send and receive targets of issue 12 from the runner's evaluated targets (runner.evaluate_targets);
    ``results`` (the runner's Result objects) give the operands' messages/s."""
    rates = {(r.case, r.param, r.impl): r.rate() for r in results if r.ok and r.samples}
    out = []
    for t in targets:
        for case, vs, need in MICRO_TARGETS:
            if t["case"] == case and t["vs"] == vs and t["min_ratio"] == need and t["impl"] == "wsframe-c":
                what = ("send_text/send_binary + data_to_send() per message vs picows transport.send"
                        if case == "send" else "receive path vs picows")
                a, b = rates.get((case, t["param"], t["impl"])), rates.get((case, t["param"], vs))
                detail = t.get("note") or ""
                if a and b:
                    detail = f"{_msgs(a)} vs {_msgs(b)}"
                out.append(_check(f"{what} (micro benchmark; time picows / time wsframe)", f"{case}[{t['param']}]",
                                  t["ratio"], ">=", need, detail))
                f_case, f_vs, f_need, f_param, floor = RECEIVE_FLOOR
                if (case, vs, need, t["param"]) == (f_case, f_vs, f_need, f_param):
                    out.append(_check(f"{what}, no regression from {floor:g}x (micro benchmark; issue 19)",
                                      f"{case}[{t['param']}]", t["ratio"], ">=", floor, detail))
    return out


def _msgs(v: float) -> str:
    return f"{v / 1e6:.2f}M msgs/s" if v >= 1e6 else f"{v / 1e3:.0f}k msgs/s"


def markdown(checks: List[dict],
             title: str = "## Targets (issues 9, 10, 12, 19): measured ratio vs target") -> str:
    """One table: target, row, measured ratio, target ratio, met/MISSED, operands."""
    met = sum(1 for c in checks if c["met"])
    missed = sum(1 for c in checks if c["met"] is False)
    unknown = sum(1 for c in checks if c["met"] is None)
    lines = [title, "",
             f"{met} met, {missed} missed" + (f", {unknown} not measured" if unknown else "") +
             ". Ratios of medians over the interleaved repeats of this run.", "",
             "| target | row | measured | target | result | operands |", "|---|---|---:|---:|---|---|"]
    for c in checks:
        ratio = "-" if c["ratio"] is None else f"{c['ratio']:.2f}x"
        result = "n/a" if c["met"] is None else "met" if c["met"] else "**MISSED**"
        lines.append(f"| {c['target']} | {c['row']} | {ratio} | {c['op']} {c['need']:g}x | {result} | "
                     f"{c['detail']} |")
    return "\n".join(lines) + "\n"


def issue19_table(results: List[dict]) -> str:
    """Issue 19 per echo row: the callback and coroutine APIs on uvloop against picows (messages/s and server
    CPU/msg ratios, > 1 better) and uvicorn + wsframe against the faster built-in, with the raw medians."""
    idx = _index(results)
    lines = ["## Issue 19 per row: wsframe.asyncio on uvloop vs picows, uvicorn + wsframe vs the best built-in", "",
             "Ratios of medians, > 1: wsframe better (CPU/msg: picows's µs / ours). Targets: callback API msg/s and "
             "CPU/msg >= 1.0x; coroutine API msg/s >= 1.0x; uvicorn >= 1.2x ping-pong, >= 2x pipelined.", "",
             "| row | callback msg/s | callback CPU/msg | coroutine msg/s | coroutine CPU/msg | uvicorn + wsframe "
             "vs best built-in | medians: picows / callback / coroutine (msg/s; µs/msg) |",
             "|---|---:|---:|---:|---:|---:|---|"]

    def ratio(a: Optional[float], b: Optional[float], need: Optional[float]) -> str:
        if not a or not b:
            return "-"
        r = a / b
        return f"{r:.2f}x" + ("" if need is None else " met" if r >= need else " **MISSED**")

    for row in ECHO_ROWS:
        p, cb, co = (idx.get((s, row.key)) for s in (PICOWS, ASYNCIO_APP_UVLOOP, ASYNCIO_UVLOOP))
        rate = {k: r["rate"] if r else None for k, r in (("p", p), ("cb", cb), ("co", co))}
        cpu = {k: (r.get("server_us_per_op") or None) if r else None for k, r in (("p", p), ("cb", cb), ("co", co))}
        w = idx.get((UVICORN_WSFRAME, row.key))
        built = [(n.split(" + ")[1], idx[(n, row.key)]) for n in UVICORN_BUILTINS if (n, row.key) in idx]
        best = max(built, key=lambda nr: nr[1]["rate"]) if built else None
        uv = "-"
        if w and best:
            uv = f"{ratio(w['rate'], best[1]['rate'], 2.0 if row.pipelined else 1.2)} ({best[0]})"
        raw = " / ".join(_rate(rate[k]) if rate[k] else "-" for k in ("p", "cb", "co")) + "; " + \
            " / ".join(_us(cpu[k]) if cpu[k] else "-" for k in ("p", "cb", "co"))
        lines.append(f"| {row.label} | {ratio(rate['cb'], rate['p'], 1.0)} | {ratio(cpu['p'], cpu['cb'], 1.0)} | "
                     f"{ratio(rate['co'], rate['p'], 1.0)} | {ratio(cpu['p'], cpu['co'], None)} | {uv} | {raw} |")
    return "\n".join(lines) + "\n"
