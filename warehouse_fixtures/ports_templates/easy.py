"""Easy ports templates: one table, a filter or an aggregate."""

from __future__ import annotations

from warehouse_fixtures.corpus import Template
from warehouse_fixtures.ports_templates.slots import (T, choice, day_slots, inspection_type_slots, merge, month_slots,
                                                   one, quarter_slots, range_slots, vtype_slots, year_slots)


def easy_templates() -> list[Template]:
    """Single-table questions."""
    return [
        T("type_built_since", "easy", ("aggregation", "filter"), [
            "How many {type_plural} built in {byear} or later are in the vessel register?",
            "Count the {type_plural} with a build year of {byear} or newer.",
            "How many {type_plural} were built from {byear} onwards?",
            "What is the number of {type_plural} built no earlier than {byear}?",
            "Number of registered {type_plural} whose build year is at least {byear}?",
            "How many of the known {type_plural} date from {byear} or later?",
            "Tell me how many {type_plural} were built in or after {byear}.",
        ], "SELECT COUNT(*) FROM vessels WHERE vessel_type = '{vtype}' AND build_year >= {byear}",
            merge(vtype_slots, one("byear", "build_years"))),
        T("vessel_particulars", "easy", ("filter",), [
            "What type of ship is {vessel}, how big is it in gross tonnage, and when was it built?",
            "Show the vessel type, gross tonnage and build year of {vessel}.",
            "Give me the type, GT and year of build for the {vessel}.",
            "For the ship {vessel}, list its type, gross tonnage and build year.",
            "What are the vessel type, gross tonnage and build year of {vessel}?",
            "Look up {vessel}: type, gross tonnage, year built.",
            "Tell me the kind of vessel {vessel} is, its gross tonnage and its build year.",
        ], "SELECT vessel_type, gross_tonnage, build_year FROM vessels WHERE vessel_name = '{vessel}'",
            one("vessel", "vessels")),
        T("big_ships_of_type", "easy", ("filter", "order_limit"), [
            "Which {type_plural} have a gross tonnage above {gt}? Largest first.",
            "List {type_plural} over {gt} GT, biggest first.",
            "Show the names and gross tonnage of {type_plural} larger than {gt} GT, in descending order of tonnage.",
            "What {type_plural} exceed {gt} gross tonnage? Sort from largest to smallest.",
            "Give me all {type_plural} with more than {gt} GT, ordered by gross tonnage descending.",
            "Find the {type_plural} whose gross tonnage is greater than {gt}, largest first.",
            "Which {type_plural} are above {gt} GT, from biggest to smallest?",
        ], "SELECT vessel_name, gross_tonnage FROM vessels WHERE vessel_type = '{vtype}' AND gross_tonnage > {gt} "
           "ORDER BY gross_tonnage DESC",
            merge(vtype_slots, choice("gt", [10000, 20000, 40000, 60000, 80000, 100000, 120000, 150000, 200000]))),
        T("deep_berths", "easy", ("filter",), [
            "Which berths at terminal {tcode} can take a draught of more than {draft} metres?",
            "List the berths of terminal {tcode} with a maximum draught above {draft} m.",
            "At terminal {tcode}, which berths allow ships drawing more than {draft} metres?",
            "Show berth numbers and maximum draught for berths of {tcode} deeper than {draft} m.",
            "What berths in terminal {tcode} have a max draft greater than {draft} metres?",
            "Find the {tcode} berths whose maximum draught exceeds {draft} m.",
            "Berths at {tcode} deeper than {draft} metres?",
        ], "SELECT berth_no, max_draft_m FROM berths WHERE terminal_code = '{tcode}' AND max_draft_m > {draft}",
            merge(one("tcode", "terminal_codes"), choice("draft", [9, 10, 11, 12, 13, 14, 15, 16, 17]))),
        T("pilots_hired_after", "easy", ("calendar_date", "filter"), [
            "Which pilots were hired after {d1_long}?",
            "List the pilots with a hire date later than {d1}.",
            "Show the names of pilots who joined after {d1_long}.",
            "What pilots started working for the port after {d1}?",
            "Find pilots hired after {d1_long}.",
            "Who among the pilots was taken on after {d1_long}?",
            "Pilots hired later than {d1}?",
        ], "SELECT full_name FROM pilots WHERE hired_date > DATE '{d1}'", day_slots("d1", "hire_days")),
        T("closed_days_month", "easy", ("calendar_date", "aggregation", "filter"), [
            "On how many days in {month_name} {year} was the port closed?",
            "Count the days the harbour entrance was closed during {month_name} {year}.",
            "How many port closure days were there in {month_name} {year}?",
            "Number of days with the port closed in {month_name} {year}?",
            "How often, in days, was the port shut in {month_name} {year}?",
            "In {month_name} {year}, how many days was the port closed to arrivals?",
            "Tell me how many days of {month_name} {year} the port was closed.",
        ], "SELECT COUNT(*) FROM weather_daily WHERE port_closed AND YEAR(obs_date) = {year} AND MONTH(obs_date) = {month}",
            month_slots, n_train=20, n_test=4),
        T("terminal_code_calls_quarter", "easy", ("calendar_date", "aggregation", "filter"), [
            "How many port calls did terminal {tcode} have in Q{q} {year}?",
            "Count the calls at terminal {tcode} in the {q_word} quarter of {year}.",
            "How many ships berthed at {tcode} during Q{q} of {year}?",
            "Number of port calls at terminal {tcode} in {year}, quarter {q}?",
            "In Q{q} {year}, how many calls did {tcode} handle?",
            "What was the call count of terminal {tcode} in the {q_word} quarter of {year}?",
            "Tell me how many vessels arrived at terminal {tcode} in Q{q} {year}.",
        ], "SELECT COUNT(*) FROM port_calls WHERE terminal_code = '{tcode}' AND YEAR(arrived_at) = {year} "
           "AND QUARTER(arrived_at) = {q}",
            merge(one("tcode", "terminal_codes"), quarter_slots)),
        T("unpaid_invoices_month", "easy", ("null_handling", "calendar_date", "aggregation", "filter"), [
            "How many port dues invoices issued in {month_name} {year} are still unpaid?",
            "Count the unpaid invoices issued during {month_name} {year}.",
            "How many invoices from {month_name} {year} have not been paid yet?",
            "Number of port dues invoices with an issue date in {month_name} {year} and no payment?",
            "Of the invoices issued in {month_name} {year}, how many remain unpaid?",
            "What is the count of {month_name} {year} invoices still waiting for payment?",
            "Unpaid invoices issued in {month_name} {year}: how many?",
        ], "SELECT COUNT(*) FROM port_dues_invoices WHERE paid_date IS NULL AND YEAR(issued_date) = {year} "
           "AND MONTH(issued_date) = {month}", month_slots),
        T("independent_old_ships", "easy", ("null_handling", "filter"), [
            "Which {type_plural} built before {byear} are not operated by any shipping line?",
            "List independent {type_plural} (no operating line) built before {byear}.",
            "Show the {type_plural} without a shipping line that were built earlier than {byear}.",
            "What {type_plural} older than {byear} have no line?",
            "Find tramp {type_plural} built before {byear}.",
            "Which {type_plural} with a build year before {byear} sail without a shipping line?",
            "Which {type_plural} built before {byear} have no operating line?",
        ], "SELECT vessel_name FROM vessels WHERE vessel_type = '{vtype}' AND line_id IS NULL AND build_year < {byear}",
            merge(vtype_slots, choice("byear", [1996, 2000, 2004, 2008, 2010, 2012, 2014, 2016, 2018, 2020]))),
        T("detentions_by_type", "easy", ("calendar_date", "aggregation", "filter"), [
            "How many {itype_label} inspections in {year} ended with the ship detained?",
            "Count the {year} {itype_label} inspections that led to a detention.",
            "How many ships were detained after {itype_a} inspection in {year}?",
            "Number of {itype_label} inspections during {year} with a detention?",
            "In {year}, how many {itype_label} inspections resulted in detention?",
            "What is the number of detentions from {itype_label} inspections in {year}?",
            "Detentions following {itype_label} inspections in {year}: how many?",
        ], "SELECT COUNT(*) FROM inspections WHERE detained AND inspection_type = '{itype}' AND YEAR(inspection_date) = {year}",
            merge(inspection_type_slots, year_slots), n_train=14, n_test=3),
        T("calls_between_days", "easy", ("calendar_date", "date_range", "aggregation"), [
            "How many ships berthed between {d1_long} and {d2_long}, both days included?",
            "Count the port calls that arrived from {d1} through {d2} inclusive.",
            "Number of arrivals at a berth between {d1} and {d2} (inclusive)?",
            "How many vessels moored from {d1_long} to {d2_long}, inclusive?",
            "How many calls arrived in the period {d1} to {d2}, including both end dates?",
            "Between {d1_long} and {d2_long} inclusive, how many ships arrived at a berth?",
            "Tell me the number of port calls with an arrival date from {d1} to {d2} inclusive.",
        ], "SELECT COUNT(*) FROM port_calls WHERE CAST(arrived_at AS DATE) BETWEEN DATE '{d1}' AND DATE '{d2}'", range_slots),
    ]
