"""PNG charts of a runner result (matplotlib, optional).

:func:`write_charts` draws what the results hold and returns the files
written; without matplotlib it returns an empty list (the report says so).

- ``throughput_mask.png``: apply_mask GB/s by size, one line per
  implementation, plus wsframe C per SIMD level (``simd_mask``)
- ``throughput_utf8.png``: validate_utf8 GB/s by kind of text per
  implementation, plus wsframe C per SIMD level by size (``simd_utf8``)
- ``connection.png``: receive and send messages/s per implementation

Charts are kept small (about 100 dpi, few colours) so that a copy can be
committed in benchmarks/latest/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

__all__ = ["CHART_NAMES", "write_charts", "available"]

CHART_NAMES = ("throughput_mask.png", "throughput_utf8.png", "connection.png")

# One colour per implementation, stable across charts.
_COLORS = {
    "wsframe-c": "#d62728", "wsframe-py": "#ff9896", "picows": "#1f77b4", "aiohttp": "#2ca02c",
    "websockets": "#9467bd", "wsproto": "#8c564b", "wsaccel": "#e377c2", "decode": "#7f7f7f",
    "copy": "#bcbd22", "scalar": "#c7c7c7", "sse2": "#aec7e8", "avx2": "#1f77b4", "avx512": "#d62728",
}


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rates(results, case: str) -> Dict[str, Dict[str, float]]:
    """impl -> param -> work units per second (median); timed, correct results only."""
    out: Dict[str, Dict[str, float]] = {}
    for r in results:
        if r.case == case and r.ok and r.samples:
            out.setdefault(r.impl, {})[r.param] = r.work / r.median
    return out


def _params(results, case: str) -> List[str]:
    return list(dict.fromkeys(r.param for r in results if r.case == case))


def _size_bytes(label: str) -> int:
    label = label.rsplit("-", 1)[-1]
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)):
        if label.endswith(unit):
            return int(label[: -len(unit)]) * scale
    raise ValueError(label)


def _lines(ax, rates: Dict[str, Dict[str, float]], params: Sequence[str], title: str, skip=()) -> bool:
    drawn = False
    xs_all = [_size_bytes(p) for p in params]
    for impl, by_param in rates.items():
        if impl in skip:
            continue
        pts = [(_size_bytes(p), by_param[p] / 1e9) for p in params if p in by_param]
        if not pts:
            continue
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o", ms=3, lw=1.5, label=impl, color=_COLORS.get(impl))
        drawn = True
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs_all)
    ax.set_xticklabels(params, fontsize=7)
    ax.set_ylabel("GB/s (median)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(fontsize=7)
    return drawn


def _bars(ax, rates: Dict[str, Dict[str, float]], params: Sequence[str], title: str, scale: float, ylabel: str,
          log: bool = False) -> bool:
    impls = [i for i in rates if any(p in rates[i] for p in params)]
    if not impls:
        return False
    width = 0.8 / len(impls)
    for k, impl in enumerate(impls):
        xs = [i + k * width for i, p in enumerate(params) if p in rates[impl]]
        ys = [rates[impl][p] / scale for p in params if p in rates[impl]]
        ax.bar(xs, ys, width, label=impl, color=_COLORS.get(impl))
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(params))])
    ax.set_xticklabels(params, fontsize=7)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    return True


def _save(fig, path: Path, written: List[Path]) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    written.append(path)


def write_charts(results, out_dir: Path, subtitle: str = "") -> List[Path]:
    """Draw every chart the results allow into ``out_dir``; [] without matplotlib."""
    if not available():
        return []
    plt = _plt()
    out_dir.mkdir(parents=True, exist_ok=True)
    written: List[Path] = []
    note = f"\n{subtitle}" if subtitle else ""

    # Masking by size: implementations, and wsframe C by SIMD level.
    mask, simd_mask = _rates(results, "apply_mask"), _rates(results, "simd_mask")
    if mask or simd_mask:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        _lines(axes[0], mask, _params(results, "apply_mask"), "apply_mask (masked copy) by size" + note)
        _lines(axes[1], simd_mask, _params(results, "simd_mask"), "wsframe C apply_mask per SIMD level")
        _save(fig, out_dir / "throughput_mask.png", written)
        plt.close(fig)

    utf8, simd_utf8 = _rates(results, "validate_utf8"), _rates(results, "simd_utf8")
    if utf8 or simd_utf8:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        if utf8:
            _bars(axes[0], utf8, _params(results, "validate_utf8"), "validate_utf8, 64 KiB, by kind of text" + note,
                  1e9, "GB/s (median, log)", log=True)
        sp = _params(results, "simd_utf8")
        ascii_p = [p for p in sp if p.startswith("ascii-")]
        multi_p = [p for p in sp if not p.startswith("ascii-")]
        if simd_utf8 and multi_p:
            # 3-byte text: where the SIMD levels differ most; ASCII dashed.
            _lines(axes[1], simd_utf8, multi_p, "wsframe C validate_utf8 per SIMD level\n(solid: 3-byte text; dashed: ASCII)")
            for impl, by_param in simd_utf8.items():
                pts = [(_size_bytes(p), by_param[p] / 1e9) for p in ascii_p if p in by_param]
                if pts:
                    xs, ys = zip(*pts)
                    axes[1].plot(xs, ys, ls="--", lw=1, color=_COLORS.get(impl))
        _save(fig, out_dir / "throughput_utf8.png", written)
        plt.close(fig)

    rx, tx = _rates(results, "receive"), _rates(results, "send")
    if rx or tx:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        if rx:
            _bars(axes[0], rx, _params(results, "receive"),
                  "receive path: masked text messages to str (server)" + note, 1e6, "M messages/s (median, log)", log=True)
        if tx:
            _bars(axes[1], tx, _params(results, "send"), "send path: messages to bytes", 1e6,
                  "M messages/s (median, log)", log=True)
        _save(fig, out_dir / "connection.png", written)
        plt.close(fig)
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:  # pragma: no cover - convenience
    """Redraw charts from a results.json: ``python -m benchmarks.charts results.json [out_dir]``."""
    import json
    import sys

    from .runner import Result

    args = list(sys.argv[1:] if argv is None else argv)
    data = json.loads(Path(args[0]).read_text())
    results = []
    for d in data["results"]:
        r = Result(d["case"], d["param"], d["impl"], d["status"], d["work"], d["unit"], d["samples_s"])
        results.append(r)
    out = Path(args[1]) if len(args) > 1 else Path(args[0]).parent
    for p in write_charts(results, out):
        print(p)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
