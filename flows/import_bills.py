"""The ``import_bills`` flow: load GPO BILLSTATUS XML files into the database (a deployment for operators)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.states import Completed, Failed
from pydantic import Field

from civic_briefs import db, importer, inputs
from flows.run_health import explain_crash_mark

DEFAULT_PATHS = [".data/billstatus"]


# Prefect's own validation is off: civic_briefs.inputs checks the parameters (see generate_brief).
@flow(name="import-bills", flow_run_name="import-bills", validate_parameters=False,
      on_completion=[explain_crash_mark], on_failure=[explain_crash_mark])
def import_bills(
    paths: list[str] = Field(
        default=DEFAULT_PATHS,
        description="BILLSTATUS XML files or folders of them (searched recursively for *.xml), on the "
                    "worker's machine; relative paths are from the project folder.",
    ),
):
    """Import BILLSTATUS files; one bad file does not stop the others. The run ends Failed if any
    file failed, with a table artifact listing the failed files and why (a file or field over its
    size cap is named with the cap)."""
    log = get_run_logger()
    try:
        paths = inputs.check_paths(paths)
    except inputs.InputError as exc:
        log.error("%s", exc)
        return Failed(message=str(exc), data=exc)
    files = importer.xml_files(paths)
    if not files:
        return Failed(message=f"No BILLSTATUS XML files found in {', '.join(paths)}")
    progress_id = create_progress_artifact(progress=0.0, description=f"Importing {len(files)} BILLSTATUS files")
    done = 0

    def advance(n: int = 1) -> None:
        nonlocal done
        done += n
        # One update per percent is enough for the UI, even for tens of thousands of files.
        if done == len(files) or done % max(1, len(files) // 100) == 0:
            update_progress_artifact(progress_id, progress=100.0 * done / len(files))

    db.init_db()
    with db.connection() as conn:
        report = importer.import_paths(conn, files, progress=advance)
    failed = [(f.name, f.error) for f in report.failed]
    summary = f"Imported {len(report.imported)} bills; {len(failed)} files failed"
    log.info("%s (from %s)", summary, ", ".join(paths))
    if failed:
        for name, error in failed:
            log.warning("Failed %s: %s", name, error)
        create_table_artifact(
            key="import-bills-failures",
            table=[{"file": name, "error": error} for name, error in failed],
            description=summary,
        )
        return Failed(message=f"{summary}: {', '.join(name for name, _ in failed)}",
                      data={"imported": report.imported, "failed": [list(f) for f in failed]})
    return Completed(message=summary, data={"imported": report.imported, "failed": []})
