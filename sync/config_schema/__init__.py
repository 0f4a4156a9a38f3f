"""The typed description of an integration file (pydantic models), its messages and its JSON Schema.

- :mod:`.values`: the kinds of value a file holds (text, choices, durations, secrets, JSON).
- :mod:`.rules` and :mod:`.transform_options`: filter rules and the options of each transform,
  shared by the admin forms and the YAML import.
- :mod:`.document`: the whole file; :func:`.document.json_schema` publishes it for editors.
- :mod:`.errors`: pydantic's errors in the portal's words, each at its path inside the file.
"""
