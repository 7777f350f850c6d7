"""benchmarks/RESULTS.md holds each benchmark's current figures: recording rewrites its section."""

from benchmarks.record import replace_section

RESULTS = "# Results\n\nintro\n\n## speed\n\nold\n\n## memory\n\n1 GB\n\n## speed\n\nolder\n"


def test_a_recorded_section_replaces_the_one_of_the_same_title():
    assert replace_section(RESULTS, "speed", "new\n") == (
        "# Results\n\nintro\n\n## speed\n\nnew\n\n## memory\n\n1 GB\n"
    )


def test_a_new_title_is_added_at_the_end():
    updated = replace_section(RESULTS, "loss", "0.1\n")
    assert updated.startswith(RESULTS.rstrip("\n")) and updated.endswith("\n## loss\n\n0.1\n")
