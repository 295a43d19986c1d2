"""Staleness marking keeps everything else a result says (it is built field by field, not copied)."""

from __future__ import annotations

import dataclasses

from builders.facts import b12, chart, days_ago

from cds_service.chart.facts import DataIssue, Interpretation
from cds_service.knowledge.clinical import load_clinical_knowledge
from cds_service.rules.labs import latest_usable, mark_stale


def test_a_stale_result_keeps_every_field_and_gains_stale_only():
    old = dataclasses.replace(b12(150, on=days_ago(800), high=900.0, flag=Interpretation.LOW, code="2132-9"),
                              reference_low=200.0, issues=(DataIssue.NOT_FINAL,))
    marked = mark_stale(old, chart(labs=[old]), load_clinical_knowledge())
    assert marked == dataclasses.replace(old, issues=(DataIssue.NOT_FINAL, DataIssue.STALE))
    assert mark_stale(marked, chart(labs=[marked]), load_clinical_knowledge()) is marked  # never twice


def test_a_recent_result_is_the_same_object():
    recent = b12(150, on=days_ago(10))
    assert mark_stale(recent, chart(labs=[recent]), load_clinical_knowledge()) is recent


def test_the_pick_marks_old_results_in_its_context_only():
    recent, old = b12(400, on=days_ago(10)), b12(150, on=days_ago(800))
    pick = latest_usable(chart(labs=[recent, old]), recent.analyte, load_clinical_knowledge())
    assert pick.latest is recent
    assert pick.context == (dataclasses.replace(old, issues=(DataIssue.STALE,)),)
