"""Filter rules and field mappings applied to one source record: pure functions, no database.

- ``FilterRule.from_json(table.filter_rules)`` and ``first_rejecting_rule(record, rules)``
  decide whether a record moves at all (every rule must accept it): :mod:`.rules`.
- ``FieldSpec.from_model(mapping)`` and ``map_record(record, specs)`` build the target's
  values; a field that cannot be mapped gets a message in ``MappingResult.errors`` and
  never an exception: :mod:`.fields` and :mod:`.records`.
- ``values_hash(values)`` fingerprints the mapped values to skip unchanged records: :mod:`.hashing`.
- :mod:`.checks` holds the checks of the configuration itself (transforms, rules, paths).

Messages (a rule's explanation, a field's error) are stored messages
(:mod:`core.stored_messages`): kept untranslated with the record's values as parameters,
shown in the language of whoever reads them.
"""

from ..paths import MISSING, get_path
from .fields import FieldSpec, LookupFailed, MappingResult, Resolver, Waiting
from .hashing import canonical, values_hash
from .records import map_record
from .rules import FilterRule, first_rejecting_rule
from .values import is_empty

__all__ = [
    "MISSING",
    "FieldSpec",
    "FilterRule",
    "LookupFailed",
    "MappingResult",
    "Resolver",
    "Waiting",
    "canonical",
    "first_rejecting_rule",
    "get_path",
    "is_empty",
    "map_record",
    "values_hash",
]
