"""YAML text in and out: safe loading within limits only, stable and readable output."""

import re

import yaml
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from .problems import ConfigError, Path, Problems

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 50  # levels of mappings and lists, one inside another
MAX_NODES = 100_000  # keys and values, all counted
MAX_NUMBER_LENGTH = 100  # characters of one integer (Python refuses over 4,300 digits, slowly)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class Inline(dict):
    """A small mapping written on one line, e.g. ``schedule: {kind: daily, at: '00:00'}``."""


class _Dumper(yaml.SafeDumper):
    """Block style; ``Inline`` mappings on one line; multi-line texts (a WSDL, a rule) as ``|`` literals."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)  # indent list items under their key


def _represent_text(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_inline(dumper, value):
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=True)


_Dumper.add_representer(str, _represent_text)
_Dumper.add_representer(Inline, _represent_inline)


def to_yaml(document: dict) -> str:
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
    )


def max_bytes() -> int:
    """The largest file an import reads: the setting ``CONFIG_IMPORT_MAX_BYTES``, 5 MB unless set."""
    return getattr(settings, "CONFIG_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES)


class _Refused(Exception):
    """What the loader refuses in a file, and where."""

    def __init__(self, mark, problem: str):
        super().__init__(problem)
        self.mark, self.problem = mark, problem


class _LimitedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses what could exhaust the portal or break later on.

    Aliases (``*name``) are refused where they are met, before anything is expanded: a few
    lines of them can stand for billions of values. Nesting deeper than :data:`MAX_DEPTH`,
    more than :data:`MAX_NODES` values, an escaped lone surrogate (``"\\ud800"``, text no
    database can store) and numbers of more than :data:`MAX_NUMBER_LENGTH` characters are
    refused too, each with the line where it is.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(
                event.start_mark,
                _("aliases (*%(name)s) are not allowed: write the value out in full") % {"name": event.anchor},
            )
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(event.start_mark, _("the file holds more than %(limit)d values") % {"limit": MAX_NODES})
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(event.start_mark, _("nested more than %(limit)d levels deep") % {"limit": MAX_DEPTH})
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_scalar_node(self, anchor):
        node = super().compose_scalar_node(anchor)
        if _SURROGATE.search(node.value):
            raise _Refused(
                node.start_mark,
                _("the text holds a lone surrogate (an escape from \\ud800 to \\udfff), which is not a character"),
            )
        return node

    def construct_yaml_int(self, node):
        if len(node.value) > MAX_NUMBER_LENGTH:
            raise _Refused(
                node.start_mark, _("a number longer than %(limit)d characters") % {"limit": MAX_NUMBER_LENGTH}
            )
        return super().construct_yaml_int(node)


_LimitedLoader.add_constructor("tag:yaml.org,2002:int", _LimitedLoader.construct_yaml_int)


def _too_large(text: str) -> bool:
    limit = max_bytes()
    # A character is at least one byte: a text longer than the limit is not encoded to be measured.
    return len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit


def from_yaml(text: str, source: str):
    """Parse ``text`` as safe YAML within the limits above; a problem names the line and column.

    A key written twice in one mapping is refused too (YAML loaders silently keep the last).
    """
    if _too_large(text):
        raise ConfigError(
            [
                _("%(source)s is larger than %(limit)s, the most an import reads (setting CONFIG_IMPORT_MAX_BYTES)")
                % {"source": source, "limit": filesizeformat(max_bytes())}
            ]
        )
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            problems = Problems()
            _find_repeated_keys(node, (), problems)
            problems.raise_if_any()
        return loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise ConfigError(
            [
                _("%(source)s, line %(line)d, column %(column)d: %(problem)s")
                % {"source": source, "line": exc.mark.line + 1, "column": exc.mark.column + 1, "problem": exc.problem}
            ]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or str(exc)
        if mark is None:
            raise ConfigError(
                [_("%(source)s: not valid YAML: %(problem)s") % {"source": source, "problem": problem}]
            ) from None
        raise ConfigError(
            [
                _("%(source)s, line %(line)d, column %(column)d: not valid YAML: %(problem)s")
                % {"source": source, "line": mark.line + 1, "column": mark.column + 1, "problem": problem}
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([_("%(source)s: not valid YAML: %(problem)s") % {"source": source, "problem": exc}]) from None
    finally:
        loader.dispose()


def _find_repeated_keys(node, path: Path, problems: Problems) -> None:
    """Walk the parsed (not constructed) nodes and report keys written twice in one mapping.

    The loader refuses aliases and deep nesting, so the nodes form a tree of bounded depth.
    """
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _find_repeated_keys(item, (*path, index), problems)
    elif isinstance(node, yaml.MappingNode):
        seen = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key = key_node.value
            if key in seen:
                problems.add(
                    (*path, key),
                    _("written twice in the same mapping (lines %(first)d and %(second)d)")
                    % {"first": seen[key] + 1, "second": key_node.start_mark.line + 1},
                )
            else:
                seen[key] = key_node.start_mark.line
            _find_repeated_keys(value_node, (*path, key), problems)
