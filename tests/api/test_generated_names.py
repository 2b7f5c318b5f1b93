"""Objects given with `generateName` and no `name` get a name as the API server makes one:
the prefix plus 5 characters, the same for the same input."""

from __future__ import annotations

from dralloc.api.io import load_text

JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  generateName: sweep-
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
"""


def names(text: str) -> list[str]:
    loaded, problems = load_text(text, "jobs.yaml")
    assert problems == []
    return [item.obj.metadata.name for item in loaded]


def test_a_job_with_only_generate_name_is_named_from_its_prefix_and_kept_in_its_raw_form() -> None:
    loaded, _ = load_text(JOB, "jobs.yaml")
    (job,) = loaded
    name = job.obj.metadata.name
    assert name.startswith("sweep-") and len(name) == len("sweep-") + 5
    assert all(c in "bcdfghjklmnpqrstvwxz2456789" for c in name[-5:])
    assert job.raw["metadata"] == {"generateName": "sweep-", "name": name}


def test_two_copies_of_one_document_get_two_names_and_a_second_read_the_same_ones() -> None:
    twice = names(f"{JOB}---\n{JOB}")
    assert len(set(twice)) == 2
    assert names(f"{JOB}---\n{JOB}") == twice


def test_a_given_name_wins_over_generate_name() -> None:
    assert names(JOB.replace("  generateName: sweep-\n", "  name: a\n  generateName: b-\n")) == [
        "a"
    ]


def test_a_bad_prefix_is_reported_on_generate_name_and_nothing_is_named() -> None:
    _, problems = load_text(JOB.replace("sweep-", "Sweep-"), "jobs.yaml")
    assert [p.field for p in problems] == ["metadata.generateName"]
