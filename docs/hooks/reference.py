"""mkdocs hook: the reference pages generated from the code at build time, so they cannot drift.

- ``reference/stdlib.md``: every component of ``models/stdlib.qgl`` and ``models/communities.qgl``
  read with the project's own parser (parameters with units and defaults, variables, ports, nodes,
  the comment block above each declaration);
- ``reference/targets.md``: every target and backend of the registry (description, modules it
  needs, its ``--option`` keys, the common options a backend honours, what ``compile -o`` writes);
- ``reference/cli.md``: every ``qglc`` subcommand from the argparse parser (usage, arguments,
  help, defaults).

An error here fails the build (mkdocs reports the hook's exception): a page that cannot be
generated is never published stale.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = (("stdlib", "use stdlib"), ("communities", "use communities"))


def on_files(files: Files, config: Any) -> Files:
    for uri, text in (("reference/stdlib.md", stdlib_page()),
                      ("reference/targets.md", targets_page()),
                      ("reference/cli.md", cli_page())):
        files.append(File.generated(config, uri, content=text))
    return files


# ---- the standard library ----------------------------------------------------------------------

def _text(lines: list[str], node: Any) -> str:
    """The source text a node spans (what the user wrote: `95 %`, `1 kV`, `inf`)."""
    s = node.span
    if s.line == s.end_line:
        return lines[s.line - 1][s.column - 1:s.end_column - 1]
    parts = [lines[s.line - 1][s.column - 1:]]
    parts += lines[s.line:s.end_line - 1]
    parts.append(lines[s.end_line - 1][:s.end_column - 1])
    return " ".join(p.strip() for p in parts)


def _comment_above(lines: list[str], line: int) -> list[str]:
    """The comment block right above a declaration (its doc comment; the parser drops comments,
    so it is read from the lines the declaration's span starts after)."""
    out: list[str] = []
    i = line - 2
    while i >= 0 and lines[i].lstrip().startswith("#") and not lines[i].lstrip().startswith(
            "# ----"):
        out.append(lines[i].lstrip()[1:].strip())
        i -= 1
    return out[::-1]


def _prose(comment: list[str]) -> str:
    """A comment block as Markdown: its lines kept (hard line breaks, since the comments lay
    out lists and equations by line), an empty comment line a new paragraph."""
    paragraphs: list[list[str]] = [[]]
    for line in comment:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join("  \n".join(p) for p in paragraphs if p)


def _index(lines: list[str], spec: Any) -> str:
    if spec is None:
        return ""
    text = _text(lines, spec)
    return text if text.startswith("[") else f"[{text}]"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def component_section(lines: list[str], comp: Any, seen: set[str]) -> list[str]:
    from qgridlang import ast

    variant = f" for {comp.variant}" if comp.variant else ""
    head = f"`{comp.name}`" + (f" (network flow = {comp.variant})" if comp.variant else "")
    out = [f"### {head}", ""]
    doc = _comment_above(lines, comp.span.line)
    if doc:
        out += [_prose(doc), ""]
    sig = f"component {comp.name}{variant}"
    extra = []
    if comp.over:
        extra.append(f"over {comp.over}")
    if comp.terminals:
        extra.append("between " + ", ".join(comp.terminals))
    out += [f"`{sig} ({len(comp.params)} parameters) {' '.join(extra)}`".replace(" `", "`"), ""]
    if comp.terminals:
        out += ["Placed with `" + comp.name + " NAME between BUS1, BUS2 { … }`; "
                "its terminals " + ", ".join(f"`{t}`" for t in comp.terminals)
                + " are the buses.", ""]
    if comp.params:
        out += ["| parameter | unit | default |", "| --- | --- | --- |"]
        for p in comp.params:
            unit = p.unit.text if p.unit is not None else "–"
            default = f"`{_cell(_text(lines, p.default))}`" if p.default is not None \
                else "required"
            out.append(f"| `{p.name}{_index(lines, p.index)}` | {_cell(unit)} | {default} |")
        out.append("")
    members = []
    for st in comp.body:
        if isinstance(st, ast.ParamDecl):
            for h in st.heads:
                unit = h.unit.text if h.unit is not None else ""
                members.append(("param", f"{h.name}{_index(lines, h.index)}", unit, st))
        elif isinstance(st, ast.VarDecl):
            unit = st.unit.text if st.unit is not None else ""
            members.append(("var", f"{st.name}{_index(lines, st.index)}", unit, st))
        elif isinstance(st, ast.ExprDecl):
            unit = st.unit.text if st.unit is not None else ""
            members.append(("expr", f"{st.name}{_index(lines, st.index)}", unit, st))
        elif isinstance(st, ast.ConstraintDecl):
            members.append(("constraint", f"{st.name}{_index(lines, st.index)}", "", st))
        elif isinstance(st, ast.PortDecl):
            where = f"{st.terminal}." if st.terminal else ""
            members.append(("port", f"{where}{st.name}{_index(lines, st.index)}", "", st))
        elif isinstance(st, ast.NodeDecl):
            of = f" (collects ports named {st.collects})" if st.collects else ""
            members.append(("node", f"{st.name}{_index(lines, st.index)}{of}", "", st))
        elif isinstance(st, ast.IgnoreDecl):
            members.append(("ignore", ", ".join(st.names), "", st))
    if members:
        out += ["| member | name | unit | declared as |", "| --- | --- | --- | --- |"]
        for kind, name, unit, st in members:
            out.append(f"| {kind} | `{_cell(name)}` | {_cell(unit) or '–'} | "
                       f"`{_cell(_text(lines, st))}` |")
        out.append("")
    seen.add(comp.name)
    return out


def library_section(name: str, use: str) -> list[str]:
    from qgridlang import ast
    from qgridlang.parser import parse

    path = ROOT / "models" / f"{name}.qgl"
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = parse(source, str(path))
    comps = [d for d in tree.statements if isinstance(d, ast.ComponentDecl)]
    out = [f"## `{use}`: models/{name}.qgl", ""]
    header = []
    for ln in lines:
        if not ln.startswith("#"):
            break
        header.append(ln[1:].strip())
    if header:
        out += [_prose(header), ""]
    names = sorted({c.name for c in comps})
    out += [f"{len(names)} components: " + ", ".join(f"`{n}`" for n in names) + ".", ""]
    seen: set[str] = set()
    for comp in comps:
        out += component_section(lines, comp, seen)
    return out


def stdlib_page() -> str:
    out = ["# Standard library", "",
           "Generated at build time from `models/stdlib.qgl` and `models/communities.qgl` by "
           "the project's parser: each component's parameters (with their units and defaults; "
           "*required* means the instance must give it), its members (variables, expressions, "
           "constraints, ports into the buses, balance nodes) and the comment above it. "
           "How components are written and placed: [Components](../language/components.md).",
           ""]
    for name, use in LIBRARIES:
        out += library_section(name, use)
    return "\n".join(out) + "\n"


# ---- targets and backends ----------------------------------------------------------------------

def targets_page() -> str:
    from qgridlang.registry import BACKENDS, COMMON_OPTIONS, TARGETS, _load

    _load()
    out = ["# Targets and backends", "",
           "Generated at build time from the registry (`qgridlang.registry`; `qglc targets` "
           "prints the same, with whether each is available on your machine). A target lowers "
           "the checked model (`qglc compile --target NAME`); a backend runs one target's "
           "artifact (`qglc solve --backend NAME`). Options are given as `--option KEY=VALUE` "
           "and an unknown key is refused; the common options are "
           + ", ".join(f"`--{o.replace('_', '-')}`" for o in COMMON_OPTIONS)
           + ". The guide: [Targets and backends](../targets/index.md).", "",
           "| target | description | backends |", "| --- | --- | --- |"]
    for name, cls in sorted(TARGETS.items()):
        users = sorted(b for b, c in BACKENDS.items() if c.target == name)
        out.append(f"| [`{name}`](#target-{name}) | {_cell(cls.description)} | "
                   + ", ".join(f"[`{b}`](#backend-{b})" for b in users) + " |")
    out += ["", "## Targets", ""]
    for name, cls in sorted(TARGETS.items()):
        out += [f"### target `{name}` {{#target-{name}}}", "", cls.description, ""]
        if cls.REQUIRED_MODULES:
            out += ["Needs the modules " + ", ".join(f"`{m}`" for m in cls.REQUIRED_MODULES)
                    + ".", ""]
        if cls.EXPORTS:
            out += ["`qglc compile --target " + name + " -o FILE` writes "
                    + ", ".join(f"`{e}`" for e in cls.EXPORTS) + ".", ""]
        if cls.DIFFERENTIABLE:
            out += ["Takes differentiable programs (surrogates called on variables).", ""]
        out += _options_table(cls.OPTIONS, set(cls.SOLVE_OPTIONS))
    out += ["## Backends", ""]
    for name, cls in sorted(BACKENDS.items()):
        out += [f"### backend `{name}` {{#backend-{name}}}", "", cls.description, "",
                f"Runs target [`{cls.target}`](#target-{cls.target}).", ""]
        if cls.REQUIRED_MODULES:
            out += ["Needs the modules " + ", ".join(f"`{m}`" for m in cls.REQUIRED_MODULES)
                    + f" (install: `{cls.INSTALL_HINT}`).", ""]
        common = [o for o in COMMON_OPTIONS if o in cls.COMMON or o == "seed"]
        out += ["Common options it honours: "
                + ", ".join(f"`--{o.replace('_', '-')}`" for o in common) + ".", ""]
        out += _options_table(cls.OPTIONS, set())
    return "\n".join(out) + "\n"


def _options_table(options: dict[str, str], solve_only: set[str]) -> list[str]:
    if not options:
        return ["No `--option` keys.", ""]
    out = ["| `--option` | meaning (and default) |", "| --- | --- |"]
    for key, meaning in options.items():
        note = " (read when solving, not by `compile`)" if key in solve_only else ""
        out.append(f"| `{key}` | {_cell(meaning)}{note} |")
    return [*out, ""]


# ---- the command line ---------------------------------------------------------------------------

def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    out = ["| argument | help | default |", "| --- | --- | --- |"]
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if a.option_strings:
            meta = a.metavar or (a.dest.upper() if a.nargs != 0 else None)
            flag = ", ".join(a.option_strings) + (f" {meta}" if meta else "")
        else:
            flag = a.metavar or a.dest
            flag = flag if isinstance(flag, str) else " ".join(flag)
        default = a.default
        shown = "–" if default in (None, False, [], argparse.SUPPRESS) else f"`{default}`"
        helptext = (a.help or "").replace("%(default)s", str(default))
        out.append(f"| `{_cell(flag)}` | {_cell(helptext)} | {_cell(shown)} |")
    return [*out, ""]


def cli_page() -> str:
    from qgridlang.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps usage to the terminal: fixed for the page
    try:
        parser = build_parser()
        parser.format_help()  # fills the registry's names into the help texts
        subs = _subcommands(parser)
        helps = _helps(parser)
        out = ["# Command line: `qglc`", "",
               "Generated at build time from `qgridlang.cli.build_parser()`: every subcommand, "
               "its arguments, their help and defaults (`qglc COMMAND --help` prints the same). "
               "How the commands fit together: [the CLI guide](../guide/cli.md).", "",
               parser.description or "", "", "```text", parser.format_usage().strip(), "```",
               "", parser.epilog or "", "", "| command | what it does |", "| --- | --- |"]
        out += [f"| [`{n}`](#qglc-{n}) | {_cell(helps.get(n, ''))} |" for n in subs]
        out += [""]
        for name, sub in subs.items():
            sub.format_help()
            out += [f"## `qglc {name}` {{#qglc-{name}}}", "", sub.description or helps.get(
                name, ""), "", "```text", sub.format_usage().strip(), "```", ""]
            out += _arguments(sub)
            if sub.epilog:
                out += [sub.epilog, ""]
        return "\n".join(out) + "\n"
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
