"""Bringing the bills table up to date from the public sources, incrementally (no Prefect here:
the ``sync-bills`` flow in ``flows/sync_bills.py`` runs these steps as tasks)."""

from civic_briefs.sync.client import FetchError, GovinfoClient
from civic_briefs.sync.govinfo import list_changes, source_name, sync_listing
from civic_briefs.sync.models import BulkFile, FileResult, Listing, SyncReport, current_congress, summary

__all__ = ["BulkFile", "FetchError", "FileResult", "GovinfoClient", "Listing", "SyncReport", "current_congress",
           "list_changes", "source_name", "summary", "sync_listing"]
