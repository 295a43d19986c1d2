"""b12-status (patient-view) cards: every row of B12-RULES.md §5 patient-view table."""

from __future__ import annotations

import dataclasses

from builders.cards import checked_cards
from builders.facts import b12, chart, days_ago, egfr, hydroxocobalamin, lab, med, mma, problem

from cds_service.chart.facts import Analyte, DataSet, MedicationClass, ProblemCategory
from cds_service.protocol.response import to_json

P = ProblemCategory


def cards_for(c):
    return checked_cards("b12-status", c)


def _resources(suggestion):
    return [a.resource for a in suggestion.actions]


def test_deficient_with_neuropathy_is_critical_with_im_loading_and_maintenance():
    (card,) = cards_for(chart(labs=[b12(150)], problems=[problem(P.NEUROPATHY)]))
    assert card.indicator == "critical"
    assert "start IM hydroxocobalamin" in card.summary
    (suggestion,) = card.suggestions
    assert suggestion.isRecommended is True and card.selectionBehavior == "any"
    loading, maintenance = _resources(suggestion)
    assert loading["dosageInstruction"][0]["timing"]["repeat"] == {
        "frequency": 1,
        "period": 2,
        "periodUnit": "d",
    }
    assert maintenance["dosageInstruction"][0]["timing"]["repeat"] == {
        "frequency": 1,
        "period": 2,
        "periodUnit": "mo",
    }
    route = loading["dosageInstruction"][0]["route"]["coding"][0]
    assert (route["code"], route["display"]) == ("78421000", "Intramuscular route")
    dose = loading["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert (dose["value"], dose["code"], dose["system"]) == (1, "mg", "http://unitsofmeasure.org")
    assert loading["encounter"] == {"reference": "Encounter/enc-1"}
    assert "Serum B12 150 ng/L on" in card.detail and "below 180 ng/L" in card.detail
    assert "folic acid alone" in card.detail


def test_deficient_with_neuropathy_offers_no_oral_alternative():
    (card,) = cards_for(chart(labs=[b12(150)], problems=[problem(P.PARAESTHESIA)]))
    assert all("oral" not in s.label.lower() for s in card.suggestions)


def test_deficient_without_neuro_is_warning_with_im_recommended_and_oral_alternative():
    (card,) = cards_for(chart(labs=[b12(150)]))
    assert card.indicator == "warning"
    im, oral = card.suggestions
    assert (im.isRecommended, oral.isRecommended) == (True, False)
    assert card.selectionBehavior == "at-most-one"
    loading, maintenance = _resources(im)
    repeat = loading["dosageInstruction"][0]["timing"]["repeat"]
    assert (repeat["frequency"], repeat["period"], repeat["periodUnit"]) == (3, 1, "wk")
    assert repeat["boundsDuration"]["value"] == 2 and repeat["boundsDuration"]["code"] == "wk"
    assert maintenance["dosageInstruction"][0]["timing"]["repeat"]["period"] == 3
    assert "1 mg IM every 3 months" in card.detail
    # B12-RULES.md §9: the order a pharmacist reads is dose, route, frequency, duration - nothing else.
    assert [r["dosageInstruction"][0]["text"] for r in (loading, maintenance)] == [
        "1 mg intramuscularly 3 times a week for 2 weeks", "1 mg intramuscularly every 3 months, lifelong"]
    (oral_request,) = _resources(oral)
    assert oral_request["dosageInstruction"][0]["route"]["coding"][0]["code"] == "26643006"


def test_deficient_with_malabsorption_gets_im_only():
    (card,) = cards_for(chart(labs=[b12(150)], problems=[problem(P.PERNICIOUS_ANAEMIA)]))
    assert len(card.suggestions) == 1 and card.selectionBehavior == "any"
    assert "intramuscular only, lifelong" in card.detail


def test_ileal_resection_quotes_the_monthly_regimen():
    (card,) = cards_for(chart(labs=[b12(150)], problems=[problem(P.ILEAL_RESECTION)]))
    assert "more than 20 cm" in card.detail


def test_functional_deficiency_by_mma_is_treated_like_deficiency():
    (card,) = cards_for(chart(labs=[b12(250), mma(0.8)]))
    assert card.indicator == "warning" and "functional" in card.detail


def test_indeterminate_without_neuro_is_info_suggesting_mma_and_optional_homocysteine():
    (card,) = cards_for(chart(labs=[b12(250)]))
    assert card.indicator == "info"
    assert "MMA" in card.summary
    mma_s, hcy = card.suggestions
    assert _resources(mma_s)[0]["code"]["coding"][0]["code"] == "13964-2" and mma_s.isRecommended
    assert _resources(hcy)[0]["code"]["coding"][0]["code"] == "13965-9" and hcy.isRecommended is False
    assert _resources(mma_s)[0]["category"][0]["coding"][0]["code"] == "108252007"


def test_indeterminate_with_neuro_is_warning():
    (card,) = cards_for(chart(labs=[b12(250)], problems=[problem(P.ATAXIA)]))
    assert card.indicator == "warning"


def test_indeterminate_with_renal_impairment_suggests_active_b12_and_says_why():
    (card,) = cards_for(chart(labs=[b12(250), mma(0.8), egfr(22)]))
    (suggestion,) = card.suggestions
    assert _resources(suggestion)[0]["code"]["coding"][0]["code"] == "72160-5"
    assert "does not establish deficiency" in card.detail
    assert "active B12" in card.summary


def test_not_tested_with_metformin_past_4_months_is_info_suggesting_b12():
    c = chart(meds=[med(MedicationClass.METFORMIN, ingredient="metformin", start=days_ago(400))])
    (card,) = cards_for(c)
    assert card.indicator == "info"
    (suggestion,) = card.suggestions
    assert _resources(suggestion)[0]["code"]["coding"][0]["code"] == "2132-9"
    assert "metformin" in card.detail and "normal blood count does not exclude" in card.detail


def test_not_tested_with_neuro_is_warning_suggesting_b12_with_mma_after_an_indeterminate_result():
    (card,) = cards_for(chart(problems=[problem(P.NEUROPATHY)]))
    assert card.indicator == "warning"
    (suggestion,) = card.suggestions  # B12-RULES.md §5: "serum B12 (MMA if borderline)"
    assert _resources(suggestion)[0]["code"]["coding"][0]["code"] == "2132-9"
    assert "If the result is indeterminate, MMA is the next test" in card.detail


def test_not_tested_under_the_renal_caveat_names_active_b12_as_the_next_test_not_mma():
    """B12-RULES.md §3: MMA rises in renal impairment, so the card beside the caveat never points to MMA."""
    (card,) = cards_for(chart(labs=[egfr(22)], problems=[problem(P.NEUROPATHY)]))
    assert "**Renal impairment**" in card.detail and "active B12 is the better test" in card.detail
    assert "If the result is indeterminate, active B12 is the next test" in card.detail
    assert "MMA is the next test" not in card.detail


def test_stale_result_with_macrocytosis_is_not_tested_and_shows_the_old_value():
    c = chart(labs=[b12(420, on=days_ago(500)), lab(Analyte.MCV, 105)])
    (card,) = cards_for(c)
    assert card.indicator == "info"
    assert "(over 12 months old)" in card.detail and "MCV 105 fL" in card.detail


def test_not_tested_without_any_trigger_is_silent():
    assert cards_for(chart()) == []


def test_recent_normal_b12_is_silent():
    assert cards_for(chart(labs=[b12(420)], problems=[problem(P.NEUROPATHY)])) == []


def test_on_treatment_for_3_months_without_follow_up_gets_reassessment():
    (card,) = cards_for(
        chart(meds=[hydroxocobalamin(start=days_ago(120))], labs=[b12(120, on=days_ago(125))])
    )
    assert card.indicator == "info"
    (suggestion,) = card.suggestions
    codes = [r["code"]["coding"][0]["code"] for r in _resources(suggestion)]
    assert codes == ["2132-9", "13964-2", "13965-9"]
    assert "platelet" in card.detail


def test_on_treatment_recently_started_is_silent():
    assert (
        cards_for(chart(meds=[hydroxocobalamin(start=days_ago(30))], labs=[b12(120, on=days_ago(35))])) == []
    )


def test_pure_motor_neuropathy_adds_an_info_card():
    cards = cards_for(chart(labs=[b12(420)], problems=[problem(P.MOTOR_NEUROPATHY)]))
    (card,) = cards
    assert card.indicator == "info" and "purely motor" in card.summary
    assert not card.suggestions


def test_missing_data_sets_and_notes_on_used_records_appear_in_the_detail():
    low = b12(150)
    notes = (f"{low.source_ref}: no unit sent; read in pg/mL", "unknown unit 'mg' on Observation/9")
    (card,) = cards_for(chart(labs=[low], missing={DataSet.RENAL_FUNCTION}, notes=notes))
    assert "Not available from the EHR: renal function" in card.detail and "no unit sent" in card.detail
    # Why (B12-RULES.md §9): a note on a record this card did not use is left off.
    assert "Observation/9" not in card.detail


def test_uuids_come_from_the_context_and_the_card_serialises():
    (card,) = cards_for(chart(labs=[b12(150)]))
    body = to_json(card)
    assert body["uuid"].startswith("00000000-0000-4000-8000-")
    assert all(s["uuid"].startswith("00000000-") for s in body["suggestions"])


def test_hydroxocobalamin_suggestion_is_coded_with_the_verified_rxnorm_product_and_text():
    from helpers import FIXTURES, load_json

    response = load_json(FIXTURES / "deficient_with_neuropathy" / "b12-status.response.json")
    [card] = response["cards"]
    resources = [a["resource"] for s in card["suggestions"] for a in s["actions"] if "resource" in a]
    concept = resources[0]["medicationCodeableConcept"]
    assert concept["coding"] == [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "317106",
                                  "display": "hydroxocobalamin 1 MG/ML Injectable Solution"}]
    assert concept["text"] == "Hydroxocobalamin 1 mg/mL solution for injection"


def test_a_long_record_still_gives_a_short_card_with_lab_rounded_notes():
    """B12-RULES.md §9 on a record like a real one: many problems, medicines and notes."""
    long_name = "Peripheral neuropathy, both feet, with reduced vibration sense and absent ankle jerks"
    names = [long_name, *(f"Neuropathy {i}" for i in range(5))]
    problems = [dataclasses.replace(problem(P.NEUROPATHY), display=name) for name in names]
    meds = [med(MedicationClass.METFORMIN, ingredient="metformin", start=days_ago(12505)),
            *(med(MedicationClass.PPI, ingredient=f"omeprazole {i}0 mg", start=days_ago(800)) for i in range(1, 6))]
    low = b12(150)
    notes = (f"{low.source_ref}: eGFR 146.58935040100175 mL/min read as mL/min/1.73 m2",
             *(f"MedicationRequest/m{i}: dosage[0].timing could not be read (not a FHIR date)" for i in range(5)))
    (card,) = cards_for(chart(labs=[low], problems=problems, meds=meds, notes=notes))
    assert len(card.detail) < 1000, card.detail
    assert "12505 days" not in card.detail and "- (more in the record)" in card.detail
    assert "146.589" not in card.detail and "eGFR 147 mL/min" in card.detail
    assert "4 more neurological problems" in card.detail
    data_quality = card.detail.split("**Data quality**\n", 1)[1].splitlines()
    assert len(data_quality) <= 3
    assert long_name not in card.detail and "…" in card.detail
    assert card.detail.startswith("**Treat now: B12 deficiency")  # the decision is never cut


def test_a_long_card_keeps_the_line_of_a_result_dated_in_the_future():
    """B12-RULES.md §7: the card notes a future-dated result. Its line under "Earlier results" is its only
    mention, so a long card cuts the other earlier results, never that line (nor one not usable)."""
    from datetime import timedelta

    names = ["Peripheral neuropathy, both feet, with reduced vibration sense and absent ankle jerks",
             *(f"Neuropathy {i}" for i in range(5))]
    problems = [dataclasses.replace(problem(P.NEUROPATHY), display=name) for name in names]
    meds = [med(MedicationClass.METFORMIN, ingredient="metformin", start=days_ago(12505)),
            *(med(MedicationClass.PPI, ingredient=f"omeprazole {i}0 mg", start=days_ago(800)) for i in range(1, 6))]
    future = days_ago(0) + timedelta(days=30)
    labs = [b12(150), b12(140, on=future), b12(400, on=days_ago(900))]
    notes = tuple(f"MedicationRequest/m{i}: dosage[0].timing could not be read (not a FHIR date)" for i in range(5))
    (card,) = cards_for(chart(labs=labs, problems=problems, meds=meds, notes=notes))
    assert len(card.detail) < 1000, card.detail
    assert "- (more in the record)" in card.detail  # a long card: it was cut
    assert f"- Serum B12 140 ng/L on {future} (dated in the future; not used)" in card.detail.splitlines()
    assert "over 12 months old" not in card.detail  # an old result is context only, and goes first
    assert card.detail.startswith("**Treat now: B12 deficiency")
