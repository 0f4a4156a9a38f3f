"""A table's settings checked against a file connection at either end.

Reading files: the source object is a pattern of file names (``NF_*.csv``), and deletes cannot be judged
(a file holds the records it holds, not every record there is). Writing files: records are only created
(a line of a file cannot be found again to update or delete), and each run writes a file of its own, so
the target object's name carries the run's ``{time}``.
"""

from django.utils.translation import gettext as _

from ..choices import ConnectionKind, DeletePolicy, WriteMode


def file_table_errors(table) -> dict[str, list]:
    """Problems with ``table``'s settings when it reads from or writes to a file connection, by field."""
    if not table.integration_id:
        return {}
    errors: dict[str, list] = {}
    reads_files = table.reads_from().kind == ConnectionKind.FILE
    writes_files = table.writes_to().kind == ConnectionKind.FILE
    if reads_files and "/" in table.source_object:
        errors["source_object"] = [_("Write a pattern of file names without a folder, e.g. NF_*.csv.")]
    if writes_files:
        if table.write_mode != WriteMode.CREATE_ONLY:
            errors["write_mode"] = [
                _("A file cannot be updated: a table writing files creates records only (choose Create only).")
            ]
        if "{time}" not in table.target_object or "/" in table.target_object:
            errors["target_object"] = [
                _("Name the file each run writes, with the run's {time} in it and no folder, e.g. pedidos_{time}.csv.")
            ]
    if (reads_files or writes_files) and table.delete_policy == DeletePolicy.DELETE:
        errors["delete_policy"] = [_("Deletes are not judged for files: choose Ignore deletes.")]
    return errors
