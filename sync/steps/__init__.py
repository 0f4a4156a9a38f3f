"""The steps :mod:`sync.engine` runs for each table, one module each.

- :mod:`.extract`: read the source page by page and stage each record (its key, its payload, the cursor);
- :mod:`.load`: filter and map one record, and hand what it becomes to the writer (or to the review queue);
- :mod:`.write`: match the record in the target and create or update it;
- :mod:`.again`: records sent through again: those the review queue holds, those IT asked to re-process;
- :mod:`.deletes`: records gone from the source, deleted in the target or held for approval;
- :mod:`.plan` and :mod:`.keys`: a table's configuration read once per run, and the keys records are logged under.

Every step notes what happened on the table's page log (:class:`monitoring.recorder.PageLog`), which the
engine commits page by page.
"""
