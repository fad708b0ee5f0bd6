"""MkDocs hook: the configuration reference, written from ``feedback_loop/config.py`` at build time.

``docs/reference/configuration.md`` holds two markers; this hook replaces them when the site is built:

- ``<!-- config-reference:keys -->``: one table per config section, a row per key with its type, its
  default and its field docstring, read from the dataclasses themselves (the docstrings with ``ast``,
  since Python keeps no field docstrings at runtime);
- ``<!-- config-reference:defaults -->``: every key at its default, as YAML;
- ``<!-- config-reference:rules -->``: the combinations that are refused or warned, from
  ``feedback_loop.config_rules`` (its ``RULES`` list) where that module exists, else a note saying so;

``docs/guides/policies.md``'s ``<!-- policy-options -->`` with every policy's options and defaults,
from the constructors' signatures; and ``docs/reference/cli.md``'s ``<!-- cli-reference -->`` with every command's ``--help``, from
``feedback_loop.cli.build_parser``.

Nothing is committed from here, so the page cannot drift from the code; ``tests/test_docs.py`` builds
the site and checks that every key of every section appears in the built page.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import typing
from typing import Any

KEYS_MARKER = "<!-- config-reference:keys -->"
RULES_MARKER = "<!-- config-reference:rules -->"
DEFAULTS_MARKER = "<!-- config-reference:defaults -->"
CLI_MARKER = "<!-- cli-reference -->"
POLICY_OPTIONS_MARKER = "<!-- policy-options -->"
POLICIES_PAGE = "guides/policies.md"
PAGE = "reference/configuration.md"
CLI_PAGE = "reference/cli.md"


def field_docstrings(cls: type) -> dict[str, str]:
    """``{field: docstring}`` for a dataclass whose fields are each followed by a string literal."""
    source = inspect.getsource(cls)
    tree = ast.parse(source)
    body = tree.body[0].body  # the class body
    docs: dict[str, str] = {}
    for node, following in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def _markdown(text: str) -> str:
    """A docstring in reST's double backticks, as one table cell of Markdown."""
    return re.sub(r"``(.+?)``", r"`\1`", text).replace("|", "\\|")


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        return " or ".join(_type_name(arg) for arg in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(arg) for arg in typing.get_args(tp))
        return f"{origin.__name__}[{args}]"
    if tp is Any:
        return "any"
    return getattr(tp, "__name__", str(tp))


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None


def _default_text(value: Any) -> str:
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict) and not value:
        return "`{}`"
    return f"`{value}`"


def sections(root: type | None = None) -> list[tuple[str, type, str]]:
    """``(section path, dataclass, the section's own docstring)`` for the top level and every section."""
    if root is None:
        from feedback_loop.config import Config as root  # noqa: N813
    hints = typing.get_type_hints(root)
    docs = field_docstrings(root)
    found = [("", root, "")]
    for field in dataclasses.fields(root):
        if dataclasses.is_dataclass(hints[field.name]):
            found.append((field.name, hints[field.name], docs.get(field.name, "")))
    return found


def keys() -> list[str]:
    """Every key path of the config (``name``, ``learner.samples``, ...): what the reference must show."""
    paths = []
    for prefix, cls, _ in sections():
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            if prefix == "" and dataclasses.is_dataclass(hints[field.name]):
                continue
            paths.append(f"{prefix}.{field.name}" if prefix else field.name)
    return paths


def render_keys() -> str:
    out = []
    for prefix, cls, doc in sections():
        hints = typing.get_type_hints(cls)
        docs = field_docstrings(cls)
        title = f"`{prefix}`" if prefix else "Top-level keys"
        out.append(f"### {title}\n")
        if doc:
            out.append(_markdown(doc).replace("\\|", "|") + "\n")
        out.append("| key | type | default | meaning |\n|---|---|---|---|")
        for field in dataclasses.fields(cls):
            tp = hints[field.name]
            if prefix == "" and dataclasses.is_dataclass(tp):
                continue
            path = f"{prefix}.{field.name}" if prefix else field.name
            out.append(f"| `{path}` | {_markdown(_type_name(tp))} | {_default_text(_default(field))} "
                       f"| {_markdown(docs.get(field.name, ''))} |")
        out.append("")
    return "\n".join(out)


def render_defaults() -> str:
    """Every key at its default, as the YAML a run writes back (``config.yaml``)."""
    import yaml

    from feedback_loop.config import Config

    text = yaml.safe_dump(dataclasses.asdict(Config()), sort_keys=False, default_flow_style=False)
    body = "\n".join("    " + line for line in f"```yaml\n{text.rstrip()}\n```".splitlines())
    return f'??? example "Every key at its default"\n\n{body}\n'  # collapsed: it is long


def render_rules() -> str:
    """The refused and warned combinations from ``feedback_loop.config_rules.RULES``, where it exists.

    The rules module is young: each rule is shown with whatever fields it declares (a dataclass's
    fields, else ``str(rule)``), so a change of its shape changes the table, not this hook.
    """
    try:
        module = importlib.import_module("feedback_loop.config_rules")
    except ModuleNotFoundError:
        return ("*No rules table yet.* The combinations of keys that are refused or warned will be "
                "listed here from `feedback_loop/config_rules.py` once it exists; until then, "
                "[Bad input](#bad-input-is-refused-before-anything-starts) says what is checked.")
    rules = getattr(module, "RULES", None)
    if not rules:
        return "`feedback_loop.config_rules` declares no `RULES`."
    out: list[str] = []
    first = rules[0]
    if all(hasattr(first, name) for name in ("key", "when", "action", "reason")):
        out += ["| key | when | action | why | example |", "|---|---|---|---|---|"]
        for rule in rules:
            example = " ".join(f"`--set {a}`" for a in getattr(rule, "example", ()) or ())
            out.append(f"| `{rule.key}` | {_markdown(rule.when)} | **{rule.action}** | {_markdown(rule.reason)} | {example} |")
        return "\n".join(out)
    if dataclasses.is_dataclass(first):  # another shape: every field that is not a function
        names = [f.name for f in dataclasses.fields(first) if not callable(getattr(first, f.name))]
        out += ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
        for rule in rules:
            cells = []
            for name in names:
                value = getattr(rule, name, "")
                value = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
                cells.append(_markdown(" ".join(str(value).split())))
            out.append("| " + " | ".join(cells) + " |")
        return "\n".join(out)
    return "\n".join(out + [f"- {_markdown(' '.join(str(rule).split()))}" for rule in rules])


def render_policy_options() -> str:
    """Each registered policy's ``policy.options``: its constructor's keyword arguments and defaults,
    less what the loop sets itself (``loop_options``) and what every policy takes (space, seed, direction)."""
    from feedback_loop.policies import POLICIES

    common = {"self", "param_space", "nominal_params", "seed", "direction"}
    out = ["| `policy.name` | `policy.options` (default) | set by the loop |", "|---|---|---|"]
    for name, cls in POLICIES.items():
        reserved = set(getattr(cls, "loop_options", ()))
        options = []
        for param in inspect.signature(cls.__init__).parameters.values():
            if param.name in common or param.name in reserved or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            default = "" if param.default is inspect.Parameter.empty else f": {_default_text(param.default).strip('`')}"
            options.append(f"`{param.name}{default}`")
        loop = ", ".join(f"`{o}`" for o in sorted(reserved)) or "—"
        out.append(f"| `{name}` | {', '.join(options) or '—'} | {loop} |")
    return "\n".join(out)


def render_cli() -> str:
    """``feedback-loop --help`` and every ``feedback-loop COMMAND --help``, from the CLI's own parser."""
    import argparse
    import os

    from feedback_loop.cli import build_parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal's width: the same page everywhere
    try:
        parser = build_parser()
        out = ["### `feedback-loop`\n", "```text", parser.format_help().rstrip(), "```\n"]
        for action in parser._subparsers._group_actions:  # noqa: SLF001  (argparse keeps no public list)
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                for name, sub in action.choices.items():
                    out += [f"### `feedback-loop {name}`\n", "```text", sub.format_help().rstrip(), "```\n"]
    finally:
        if columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = columns
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001  (mkdocs' hook signature)
    if page.file.src_uri == PAGE:
        markdown = (markdown.replace(KEYS_MARKER, render_keys()).replace(RULES_MARKER, render_rules())
                    .replace(DEFAULTS_MARKER, render_defaults()))
    if page.file.src_uri == POLICIES_PAGE:
        markdown = markdown.replace(POLICY_OPTIONS_MARKER, render_policy_options())
    if page.file.src_uri == CLI_PAGE:
        markdown = markdown.replace(CLI_MARKER, render_cli())
    return markdown
