"""The staff area (/staff/). Every staff screen lives in dashboard/<domain>/ (home, members, payments, audit,
privacy, security), each with its views and what only those views use; dashboard/urls.py routes them all.
The app's own records are the member-list exports: ExportJob (models.py), the files (exports.py) and their
Celery tasks (tasks.py)."""
