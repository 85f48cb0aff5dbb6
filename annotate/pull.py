"""`annotate pull`: every annotation of a project as a normalised record
(schemas/annotation.schema.json), fully or only what changed since the last pull.

Both kinds read a snapshot export of the tasks that matter (snapshot.py): annotated or
skipped tasks for a full pull, tasks updated since the last pull's server time for an
incremental one, whose records replace those of the same tasks in the previous output
(pulled.py). The merged count is then checked against the project's own annotation
counters; a mismatch (a deleted task, say) turns the pull into a full one."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from asag.annotate import pulled, snapshot
from asag.annotate.connection import Api
from asag.scale import Scale

# Re-read a little before the last pull (a save's timestamp precedes its commit; the Date
# header has whole seconds). Anything still missed changes the count and forces a full pull.
OVERLAP = timedelta(seconds=2)


@dataclass
class PullReport:
    mode: str = "full"
    tasks: int = 0
    new: int = 0
    edited: int = 0
    deleted: list[dict] = field(default_factory=list)
    total: int = 0
    answers: int = 0
    skipped: int = 0
    unscored: list[int] = field(default_factory=list)  # annotation ids without a usable score
    foreign: int = 0  # annotations of tasks without an answer_id (not pushed by asag)
    fallback: str = ""
    # the output's records as written (the caller's Disagreements tab reads them here, not
    # from the file again: at 100,000 records that took seconds)
    records: dict = field(default_factory=dict, repr=False)

    def summary(self, output: Path) -> str:
        text = (f"{output}: {self.total:,} annotations of {self.answers:,} answers "
                f"({self.skipped:,} skipped); {self.mode} pull read {self.tasks:,} tasks: "
                f"{self.new:,} new, {self.edited:,} edited, {len(self.deleted):,} deleted")
        if self.deleted:
            ids = ", ".join(str(d["annotation_id"]) for d in self.deleted[:5])
            text += f" (annotation ids {ids}{', ...' if len(self.deleted) > 5 else ''})"
        if self.fallback:
            text += f"; {self.fallback}"
        if self.unscored:
            ids = ", ".join(map(str, self.unscored[:5]))
            text += (f"; WARNING {len(self.unscored)} annotations have no score on the scale "
                     f"(ids {ids}): fix them in Label Studio")
        if self.foreign:
            text += f"; {self.foreign} annotations of tasks without an answer_id were ignored"
        return text


def pull(api: Api, project: dict, output: Path, *, scale: Scale, full: bool = False
         ) -> PullReport:
    """Pull the project into `output` (and its state beside it): incrementally where an
    earlier pull of this project left both, else (or with `full`) everything."""
    state = pulled.read_state(output, api.url, project["id"])
    old = pulled.read_output(output) if state is not None and not full else None
    since = state["watermark"] if old is not None else None  # no output: start again
    if not since:
        return _full(api, project, output, scale, previous=state is not None)
    # the counters fetched with the project (just before the export) save a call; only when
    # they disagree are fresh ones asked for, after one more look at the changes (a label
    # saved during the pull, or stale counters)
    expected = snapshot.counted(project)
    for look in range(2):
        report, merged, fresh, foreign, server_now = _incremental(api, project, scale,
                                                                  state, old, since)
        found = len({k[0] for k in merged}) + sum(foreign.values())
        if look or expected is None:
            expected = snapshot.expected_count(api, project)
        if expected is None or expected == found:
            if report.new or report.edited or report.deleted:  # else it stays as it is
                pulled.write_output(output, merged, fresh)  # old records: checked on reading
            return _finish(api, project, output, report, merged, foreign, server_now)
    report = _full(api, project, output, scale, previous=True)
    report.fallback = (f"incremental pull found {found} annotations but the project has "
                       f"{expected} (tasks deleted?), so a full pull was done")
    return report


def _full(api: Api, project: dict, output: Path, scale: Scale, *, previous: bool
          ) -> PullReport:
    """Every annotated or skipped task, compared with the previous output (if `previous`:
    ours, and readable) for the report."""
    report = PullReport(mode="full")
    server_now, merged, foreign, report.unscored, task_ids = _read(api, project, scale, None)
    report.tasks = len(task_ids)
    before = pulled.read_output(output, strict=False) if previous else None
    report.new, report.edited, report.deleted = pulled.changes(before or {}, merged)
    pulled.write_output(output, merged)
    return _finish(api, project, output, report, merged, foreign, server_now)


def _incremental(api: Api, project: dict, scale: Scale, state: dict, old: dict, since: str):
    """(report, records, the re-read records, foreign counts, server time) with the tasks
    updated since `since` re-read and merged into `old`; nothing written."""
    report = PullReport(mode="incremental")
    server_now, fresh, foreign, report.unscored, task_ids = _read(api, project, scale, since)
    report.tasks = len(task_ids)
    merged, (report.new, report.edited, report.deleted) = pulled.merge(old, fresh, task_ids)
    foreign = {**{k: n for k, n in state.get("foreign", {}).items() if int(k) not in task_ids},
               **foreign}
    return report, merged, fresh, foreign, server_now


def _read(api: Api, project: dict, scale: Scale, since: str | None):
    """(server time, records, foreign counts, unscored ids, task ids) of the tasks updated
    since `since` (all annotated or skipped ones when None): the export is spooled to a
    temporary file and read task by task, so a course's export is never whole in memory."""
    with tempfile.TemporaryDirectory(prefix="asag-pull-") as tmp:
        spool = Path(tmp) / "export.json"
        server_now = snapshot.export_tasks(api, project["id"], since=since, spool=spool)
        return (server_now, *snapshot.records(snapshot.read_export(spool), project, scale))


def _finish(api: Api, project: dict, output: Path, report: PullReport, merged: dict,
            foreign: dict, server_now) -> PullReport:
    """The state written (after the output), and the totals counted."""
    pulled.write_state(output, api.url, project, server_now - OVERLAP, foreign, report.deleted)
    report.records = merged
    annotations = {r["annotation_id"]: r for r in merged.values()}  # group members share one
    report.total = len(annotations)
    report.answers = len({r["answer_id"] for r in merged.values()})
    report.skipped = sum(1 for r in annotations.values() if r["skipped"])
    report.foreign = sum(foreign.values())
    return report
