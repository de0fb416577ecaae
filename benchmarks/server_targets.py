"""The targets of issues 9, 10 and 12, judged on ratios measured in one run.

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

from .server_specs import (ASYNCIO_UVLOOP, CEILING, ECHO_ROWS, HYPERCORN, HYPERCORN_ACCEL, MEMORY_ROW, PICOWS,
                           UVICORN_BUILTINS, UVICORN_WSFRAME, WSFRAME, WSFRAME_BUILTIN, Row)

# (case, params) of the micro benchmarks' targets that issue 12 sets (see cases.TARGETS).
MICRO_TARGETS = (("send", "picows", 1.0), ("receive", "picows", 3.5))


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

    # Issue 9: wsframe.asyncio on uvloop >= 1.0x picows on every row, by msg/s and by server CPU per message.
    for row in ECHO_ROWS:
        a, p = get(ASYNCIO_UVLOOP, row), get(PICOWS, row)
        out.append(_check("asyncio server on uvloop vs picows, messages/s", row.label,
                          a["rate"] / p["rate"] if a and p else None, ">=", 1.0,
                          f"{_rate(a['rate'])} vs {_rate(p['rate'])}" if a and p else "not run"))
        ca, cp = cpu(a), cpu(p)
        out.append(_check("asyncio server on uvloop vs picows, server CPU/msg (picows / asyncio)", row.label,
                          cp / ca if ca and cp else None, ">=", 1.0, f"{_us(ca)} vs {_us(cp)}"))
    # Issue 9: uvicorn + wsframe vs uvicorn's best built-in: 2x pipelined, 1.2x ping-pong; memory <= half.
    for row in ECHO_ROWS:
        w = get(UVICORN_WSFRAME, row)
        builtins = [(name, get(name, row)) for name in UVICORN_BUILTINS]
        builtins = [(n, r) for n, r in builtins if r]
        best = max(builtins, key=lambda nr: nr[1]["rate"]) if builtins else None
        need = 2.0 if row.pipelined else 1.2
        ratio = w["rate"] / best[1]["rate"] if w and best else None
        detail = (f"{_rate(w['rate'])} vs {best[0].split(' + ')[1]} {_rate(best[1]['rate'])}; server CPU/msg "
                  f"{_us(cpu(w))} vs {_us(cpu(best[1]))}") if w and best else "not run"
        out.append(_check("uvicorn + wsframe vs uvicorn's best built-in, messages/s", row.label, ratio, ">=", need,
                          detail))
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
    return out


def _msgs(v: float) -> str:
    return f"{v / 1e6:.2f}M msgs/s" if v >= 1e6 else f"{v / 1e3:.0f}k msgs/s"


def markdown(checks: List[dict], title: str = "## Targets (issues 9, 10, 12): measured ratio vs target") -> str:
    """One table: target, row, measured ratio, target ratio, hit/miss, operands."""
    met = sum(1 for c in checks if c["met"])
    missed = sum(1 for c in checks if c["met"] is False)
    unknown = sum(1 for c in checks if c["met"] is None)
    lines = [title, "",
             f"{met} hit, {missed} missed" + (f", {unknown} not measured" if unknown else "") +
             ". Ratios of medians over the interleaved repeats of this run.", "",
             "| target | row | measured | target | result | operands |", "|---|---|---:|---:|---|---|"]
    for c in checks:
        ratio = "-" if c["ratio"] is None else f"{c['ratio']:.2f}x"
        result = "n/a" if c["met"] is None else "hit" if c["met"] else "**miss**"
        lines.append(f"| {c['target']} | {c['row']} | {ratio} | {c['op']} {c['need']:g}x | {result} | "
                     f"{c['detail']} |")
    return "\n".join(lines) + "\n"
