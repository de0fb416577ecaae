"""Every ```python block of README.md and docs/api.md runs, as written, and exits 0.

Convention (HTML comments, invisible on GitHub; put one right before a block,
blank lines may separate them):

- A plain ```python block is run by itself in a fresh interpreter
  (``python -c``, in an empty temporary folder, so the installed wsframe is
  imported) and must exit 0 within 30 s.
- ``<!-- readme-test: server -->`` marks a block that starts a server on
  127.0.0.1. The test replaces the README's port ``9001`` in it, and in the
  next ```python block, with a free port; starts the block as a subprocess;
  waits until the port accepts connections; runs the next block (the client)
  against it, which must exit 0; then sends SIGINT to the server, which must
  exit 0 (a graceful stop) within 15 s. The client block is not run alone.
- ``<!-- readme-test: given`` ... ``-->`` holds Python lines run before the
  next block in the same interpreter, for names a fragment takes as given
  (``sock``, ``bytes_from_socket``); several such comments add up.
- ``<!-- readme-test: skip REASON -->`` does not run the next block; the
  reason shows in pytest's summary. Use it only for what cannot run here.

Beyond the blocks: every dotted name ``wsframe.x.y`` (or ``wsframe.x:Y``, an
import string) written anywhere in README.md must import or resolve, and every
``--option`` of a ``wsframe echo`` / ``wsframe client`` command line in a
shell block must be one the command accepts, every ``(#anchor)`` link must
lead to a heading, every relative link or image must name a file of the
repository, and every ``pytest -m "not ..."`` command must still leave
out the markers pyproject.toml leaves out by default (a ``-m`` on the command
line replaces pyproject's).

The same checks apply to docs/api.md (the API guide the README links to);
the links of the other docs the README's maintainers keep (docs/ci.md,
design.md, performance.md, conformance.md) are checked too, and every
``file.md#anchor`` link must lead to a heading (or an ``<a id>``) of that file.

Each test is named by the document and the block's first line number.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# Documents whose Python blocks run and whose names and options are checked, and documents whose links are.
RUN_DOCS = [README, ROOT / "docs" / "api.md"]
LINK_DOCS = RUN_DOCS + [ROOT / "docs" / name for name in ("ci.md", "design.md", "performance.md", "conformance.md")]
RUN_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
README_PORT = "9001"
_MARK = re.compile(r"^<!--\s*readme-test:\s*(\w+)\s*(.*?)\s*(-->)?\s*$")


@dataclass
class Block:
    line: int  # first line of the code (1-based)
    code: str
    kind: str = "run"  # run | server | skip
    reason: str = ""
    given: List[str] = field(default_factory=list)
    client: Optional["Block"] = None
    doc: str = "README.md"


def parse(text: str) -> List[Block]:
    """The ```python blocks of a markdown text with their readme-test directives;
    a server block carries the block after it as its client."""
    lines = text.splitlines()
    blocks: List[Block] = []
    pending = Block(0, "")
    i = 0
    while i < len(lines):
        line = lines[i]
        mark = _MARK.match(line.strip())
        if mark:
            word, rest, closed = mark.group(1), mark.group(2), mark.group(3)
            body = []
            if not closed:
                i += 1
                while i < len(lines) and lines[i].strip() != "-->":
                    body.append(lines[i])
                    i += 1
            if word == "given":
                pending.given.append("\n".join(([rest] if rest else []) + body))
            elif word in ("server", "skip"):
                pending.kind, pending.reason = word, rest
            else:
                raise ValueError(f"README.md:{i + 1}: unknown readme-test directive {word!r}")
        elif line.strip().startswith("```"):
            lang = line.strip()[3:].strip().lower()
            start = i + 1
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                i += 1
            if lang in ("python", "py"):
                pending.line, pending.code = start + 1, "\n".join(lines[start:i]) + "\n"
                blocks.append(pending)
            pending = Block(0, "")
        elif line.strip():
            pending = Block(0, "")  # a directive applies to the block right after it
        i += 1
    out: List[Block] = []
    it = iter(blocks)
    for block in it:
        if block.kind == "server":
            block.client = next(it, None)
        out.append(block)
    return out


def _label(doc: Path) -> str:
    return doc.relative_to(ROOT).as_posix()


def _blocks() -> List[Block]:
    found = []
    for doc in RUN_DOCS:
        if doc.exists():
            for block in parse(doc.read_text(encoding="utf-8")):
                block.doc = _label(doc)
                found.append(block)
    return found


BLOCKS = _blocks()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _source(block: Block, port: Optional[int] = None) -> str:
    code = "\n".join(block.given + [block.code])
    return code.replace(README_PORT, str(port)) if port is not None else code


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"did not finish within {RUN_TIMEOUT:.0f}s; output: {exc.stderr!r}") from None


def _wait_for_port(proc: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server block exited ({proc.returncode}) before listening:"
                                 f" {proc.communicate()[1]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)  # nothing to wait on but the port itself
    raise AssertionError(f"the server block did not listen on port {port} within {RUN_TIMEOUT:.0f}s")


def test_readme_has_python_blocks() -> None:
    assert any(b.doc == "README.md" for b in BLOCKS), "no ```python block found in README.md"
    assert any(b.doc == "docs/api.md" for b in BLOCKS), "no ```python block found in docs/api.md"


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.doc}:line{b.line}" for b in BLOCKS])
def test_readme_block(block: Block, tmp_path: Path) -> None:
    where = f"{block.doc}:{block.line}"
    if block.kind == "skip":
        pytest.skip(f"{where}: {block.reason or 'marked skip'}")
    if block.kind == "run":
        result = _run(_source(block), tmp_path)
        assert result.returncode == 0, f"{where} exited {result.returncode}:\n{result.stderr}"
        return
    assert block.client is not None, f"{where}: a server block needs a client block after it"
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", _source(block, port)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_port(server, port)
        result = _run(_source(block.client, port), tmp_path)
        assert result.returncode == 0, \
            f"client block {block.doc}:{block.client.line} exited {result.returncode}:\n{result.stderr}"
        server.send_signal(signal.SIGINT)
        try:
            _, err = server.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"server block {where} did not stop within"
                                 f" {STOP_TIMEOUT:.0f}s of SIGINT") from None
        assert server.returncode == 0, \
            f"server block {where} exited {server.returncode} on SIGINT:\n{err}"
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def test_the_convention_parses() -> None:
    """The directives as documented above, on a small markdown text."""
    text = "\n".join([
        "<!-- readme-test: server -->", "```python", "serve(9001)", "```", "text",
        "```python", "connect(9001)", "```",
        "<!-- readme-test: given", "sock = None", "-->", "", "```python", "use(sock)", "```",
        "<!-- readme-test: skip needs a browser -->", "```python", "browser()", "```",
        "<!-- readme-test: skip stale -->", "a paragraph", "```python", "plain()", "```",
        "```sh", "not python", "```",
    ])
    server, given, skipped, plain = parse(text)
    assert (server.kind, server.line, server.client and server.client.code) == ("server", 3, "connect(9001)\n")
    assert _source(server, 4242) == "serve(4242)\n"
    assert (given.kind, given.given, given.code) == ("run", ["sock = None"], "use(sock)\n")
    assert (skipped.kind, skipped.reason) == ("skip", "needs a browser")
    assert (plain.kind, plain.code) == ("run", "plain()\n")


_DOTTED = re.compile(r"(?<![-/\w])wsframe(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_]\w*)?")


def dotted_names(text: str) -> List[str]:
    """The ``wsframe.x.y`` / ``wsframe.x:Y`` names written in a markdown text (not file paths)."""
    return sorted(set(_DOTTED.findall(text)))


def resolve(name: str) -> object:
    """Import the longest module prefix of ``name`` and look the rest up as attributes."""
    path = name.replace(":", ".").split(".")
    for cut in range(len(path), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(path[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in path[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(name)


README_TEXT = README.read_text(encoding="utf-8") if README.exists() else ""
RUN_TEXTS = {_label(d): d.read_text(encoding="utf-8") for d in RUN_DOCS if d.exists()}


@pytest.mark.parametrize("doc,name", [(d, n) for d, text in RUN_TEXTS.items() for n in dotted_names(text)])
def test_readme_name_exists(doc: str, name: str) -> None:
    try:
        resolve(name)
    except (ImportError, AttributeError) as exc:
        raise AssertionError(f"{doc} names {name}, which does not exist: {exc}") from None


def cli_options(text: str) -> List[tuple]:
    """(command, option) for each ``--option`` on a ``wsframe echo|client`` line of a shell block."""
    found = []
    in_sh = False
    for line in text.splitlines():
        fence = line.strip()
        if fence.startswith("```"):
            in_sh = not in_sh and fence[3:].strip().lower() in ("sh", "bash", "console", "shell")
            continue
        m = re.match(r"\s*(?:python -m )?wsframe (echo|client)\b(.*)", line)
        if in_sh and m:
            command = m.group(1)
            for option in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", m.group(2).split("#")[0]):
                found.append((command, option))
    return sorted(set(found))


@pytest.mark.parametrize("command,option", sorted({o for text in RUN_TEXTS.values() for o in cli_options(text)}))
def test_readme_cli_option_exists(command: str, option: str) -> None:
    result = subprocess.run([sys.executable, "-m", "wsframe", command, "--help"], capture_output=True,
                            text=True, timeout=RUN_TIMEOUT, cwd=README.parent)
    assert result.returncode == 0, result.stderr
    help_text = result.stdout
    assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text), \
        f"README.md uses `wsframe {command} {option}`, which `wsframe {command} --help` does not list"


def test_the_name_and_option_finders() -> None:
    text = "\n".join([
        "Use `wsframe.client.connect` or `--ws wsframe.uvicorn:WSFrameProtocol`; see wsframe/server/loop.py",
        "and tests/peers/nginx-wsframe.conf.", "```sh", "wsframe echo --port 0 --workers 2   # --not-this",
        "python -m wsframe client -v ws://x/", "pytest --other", "```", "wsframe echo --prose-only",
    ])
    assert dotted_names(text) == ["wsframe.client.connect", "wsframe.uvicorn:WSFrameProtocol"]
    assert cli_options(text) == [("client", "-v"), ("echo", "--port"), ("echo", "--workers")]
    assert resolve("wsframe.uvicorn:WSFrameProtocol").__name__ == "WSFrameProtocol"
    with pytest.raises(AttributeError):
        resolve("wsframe.client.no_such_name")


def heading_anchors(text: str) -> List[str]:
    """GitHub's anchors for the markdown headings of a text (outside code blocks)."""
    anchors: List[str] = []
    in_code = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m and not in_code:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            n = sum(1 for a in anchors if a == slug or re.fullmatch(re.escape(slug) + r"-\d+", a))
            anchors.append(slug if n == 0 else f"{slug}-{n}")
    return anchors


def test_readme_links_lead_to_headings() -> None:
    anchors = set(heading_anchors(README_TEXT))
    links = set(re.findall(r"\]\(#([^)]+)\)", README_TEXT))
    assert links, "no (#anchor) link in README.md"
    assert not links - anchors, f"README.md links to missing headings: {sorted(links - anchors)}"


def test_heading_anchors_follow_github() -> None:
    text = "# wsframe\n## Your own server (`wsframe.server`)\n```sh\n# not a heading\n```\n" \
           "## The sans-I/O connection\n### Options\n### Options\n"
    assert heading_anchors(text) == ["wsframe", "your-own-server-wsframeserver", "the-sans-io-connection",
                                     "options", "options-1"]


def default_deselected(pyproject_text: str) -> List[str]:
    """The markers pyproject's pytest ``addopts`` deselects (``-m 'not a and not b'``)."""
    m = re.search(r"^addopts\s*=\s*(.+)$", pyproject_text, re.M)
    expr = re.search(r"-m\s+['\"]([^'\"]+)['\"]", m.group(1)) if m else None
    return re.findall(r"\bnot\s+(\w+)", expr.group(1)) if expr else []


def deselecting_commands(text: str) -> List[str]:
    """The marker expressions of ``pytest -m "not ..."`` commands in a text."""
    return re.findall(r"pytest\s+-m\s+[\"']((?:not\s)[^\"']*)[\"']", text)


def test_readme_quick_commands_keep_the_default_deselection() -> None:
    pyproject = README.parent / "pyproject.toml"
    hidden = default_deselected(pyproject.read_text(encoding="utf-8"))
    for expr in deselecting_commands(README_TEXT):
        kept = set(re.findall(r"\bnot\s+(\w+)", expr))
        missing = [marker for marker in hidden if marker not in kept]
        assert not missing, (f'README.md: pytest -m "{expr}" replaces pyproject\'s -m and so runs the'
                             f" {', '.join(missing)} tests; add 'and not {' and not '.join(missing)}'")


def test_the_marker_finders() -> None:
    assert default_deselected("[tool.pytest.ini_options]\naddopts = \"-ra -m 'not soak and not fuzz'\"\n") \
        == ["soak", "fuzz"]
    text = 'run `pytest -m "not peers and not soak"` or `pytest -m autobahn`'
    assert deselecting_commands(text) == ["not peers and not soak"]


def relative_targets(text: str) -> List[str]:
    """The relative file targets of markdown links and images (no URLs, no #anchors)."""
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    return sorted({t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t)})


def test_readme_files_exist() -> None:
    missing = [t for t in relative_targets(README_TEXT) if not (README.parent / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def anchors_of(doc: Path) -> set:
    """The anchors a link may name in a markdown file: its headings' and its ``<a id="...">``."""
    text = doc.read_text(encoding="utf-8")
    return set(heading_anchors(text)) | set(re.findall(r'<a id="([^"]+)"', text))


def anchored_links(text: str) -> List[tuple]:
    """(file or "", anchor) for every relative link with an #anchor (``#x`` or ``file.md#x``)."""
    found = re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", text)
    return sorted({(f, a) for f, a in found if not re.match(r"[a-z][a-z0-9+.-]*:", f)})


@pytest.mark.parametrize("doc", LINK_DOCS, ids=_label)
def test_doc_links_lead_to_files_and_headings(doc: Path) -> None:
    assert doc.exists(), f"{_label(doc)} is missing"
    text = doc.read_text(encoding="utf-8")
    missing = [t for t in relative_targets(text) if not (doc.parent / t).exists()]
    assert not missing, f"{_label(doc)} links to files that do not exist: {missing}"
    bad = [f"{f}#{a}" for f, a in anchored_links(text)
           if (not f or f.endswith(".md")) and a not in anchors_of((doc.parent / f) if f else doc)]
    assert not bad, f"{_label(doc)} links to headings that do not exist: {bad}"


def test_anchors_of_a_file(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text('# Title\n## The sans-I/O connection\n<a id="reproduce"></a>Reproduce\n')
    assert anchors_of(doc) == {"title", "the-sans-io-connection", "reproduce"}
    assert "the-sans-io" not in anchors_of(doc)


def test_the_link_finder() -> None:
    text = "![c](benchmarks/latest/a.png) [r](docs/x.md#part) [u](https://example.com/y) [a](#anchor)"
    assert relative_targets(text) == ["benchmarks/latest/a.png", "docs/x.md"]
    assert anchored_links(text + " [w](https://example.com/#no)") == [("", "anchor"), ("docs/x.md", "part")]
