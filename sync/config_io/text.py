"""YAML text in and out: safe loading only, stable and readable output."""

import yaml
from django.utils.translation import gettext as _

from .problems import ConfigError, Path, Problems


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


def from_yaml(text: str, source: str):
    """Parse ``text`` with ``yaml.safe_load``; a syntax error names the line and column.

    A key written twice in one mapping is refused too (YAML loaders silently keep the last).
    """
    try:
        data = yaml.safe_load(text)
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
    problems = Problems()
    _find_repeated_keys(yaml.compose(text, Loader=yaml.SafeLoader), (), problems, set(), ())
    problems.raise_if_any()
    return data


def _find_repeated_keys(node, path: Path, problems: Problems, walked: set, ancestors: tuple) -> None:
    """Walk the parsed (not constructed) nodes and report keys written twice in one mapping.

    Each node is walked once, so aliases cannot make the walk explode; an alias to
    one of its own ancestors (a recursive document) is refused.
    """
    if id(node) in ancestors:
        problems.add(path, _("refers to itself through an alias"))
        return
    if id(node) in walked:
        return
    walked.add(id(node))
    ancestors = (*ancestors, id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _find_repeated_keys(item, (*path, index), problems, walked, ancestors)
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
            _find_repeated_keys(value_node, (*path, key), problems, walked, ancestors)
