"""django-q2 entry points of the monitoring app. Thin: primary keys in, one function each."""

from .exports import build_export as _build_export


def build_export(job_id: int) -> str:
    """Write a background history export (``monitoring.exports.build_export``)."""
    job = _build_export(job_id)
    return job.status if job is not None else "missing"
