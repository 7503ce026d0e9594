"""Medium ports templates: joins, groups, periods."""

from __future__ import annotations

from warehouse_fixtures.corpus import Template
from warehouse_fixtures.ports_templates.slots import (CALLS_TERMINAL, CALLS_VESSEL, CARGO_CALLS, STAY_HOURS, T, choice,
                                                   direction_slots, merge, month_slots, one, pair_slots,
                                                   quarter_slots, vtype_slots, year_slots)


def medium_templates() -> list[Template]:
    """Joins, groups and periods."""
    return [
        T("vessel_calls_year", "medium", ("join", "calendar_date", "aggregation"), [
            "How many times did {vessel} call at the port in {year}?",
            "Count the port calls of {vessel} during {year}.",
            "How many calls did the {vessel} make in {year}?",
            "Number of visits by {vessel} in {year}?",
            "In {year}, how often did {vessel} berth here?",
            "How many times was {vessel} alongside in {year}?",
            "Tell me how many port calls {vessel} made in {year}.",
        ], f"SELECT COUNT(*) {CALLS_VESSEL} WHERE v.vessel_name = '{{vessel}}' AND YEAR(pc.arrived_at) = {{year}}",
            merge(one("vessel", "busy_vessels"), year_slots)),
        T("vessel_last_arrival", "medium", ("join", "aggregation"), [
            "When did {vessel} last arrive at a berth?",
            "What is the most recent arrival time of {vessel}?",
            "When was the latest port call of {vessel}?",
            "Give me the last time {vessel} moored here.",
            "Find the most recent berthing of {vessel}.",
            "{vessel}: when did it last come alongside?",
            "What was the arrival time of the latest call by {vessel}?",
        ], f"SELECT MAX(pc.arrived_at) {CALLS_VESSEL} WHERE v.vessel_name = '{{vessel}}'", one("vessel", "vessels")),
        T("vessel_berths_year", "medium", ("join", "calendar_date", "filter"), [
            "At which terminals and berths did {vessel} moor in {year}, and when did it arrive?",
            "List the terminal, berth and arrival time of every call by {vessel} in {year}.",
            "Show where and when {vessel} berthed during {year}.",
            "Give me the terminal code, berth number and arrival of each {year} call of {vessel}.",
            "For each call of {vessel} in {year}, which terminal and berth, and what arrival time?",
            "Where did {vessel} berth in {year}? Include the arrival times.",
            "{vessel} in {year}: terminal, berth and arrival of each call?",
        ], f"SELECT pc.terminal_code, pc.berth_no, pc.arrived_at {CALLS_VESSEL} WHERE v.vessel_name = '{{vessel}}' "
           "AND YEAR(pc.arrived_at) = {year}",
            merge(one("vessel", "busy_vessels"), year_slots)),
        T("line_fleet", "medium", ("join", "filter"), [
            "Which vessels does {line} operate?",
            "List the ships operated by {line}.",
            "Show the names of all {line} vessels.",
            "What ships belong to the {line} fleet?",
            "Give me every vessel whose operating line is {line}.",
            "Find the ships run by {line}.",
            "Name the vessels in the fleet of {line}.",
        ], "SELECT v.vessel_name FROM vessels v JOIN shipping_lines sl ON v.line_id = sl.line_id "
           "WHERE sl.line_name = '{line}'", one("line", "lines"), n_train=30, n_test=6),
        T("flag_type_count", "medium", ("join", "aggregation", "filter"), [
            "How many {type_plural} fly the flag of {country}?",
            "Count the {type_plural} registered in {country}.",
            "How many {country}-flagged {type_plural} are there?",
            "Number of {type_plural} under the {country} flag?",
            "How many {type_plural} have {country} as their flag state?",
            "What is the count of {type_plural} flagged in {country}?",
            "Registered under {country}: how many {type_plural}?",
        ], "SELECT COUNT(*) FROM vessels v JOIN countries co ON v.flag_country_code = co.country_code "
           "WHERE co.country_name = '{country}' AND v.vessel_type = '{vtype}'",
            merge(vtype_slots, one("country", "flag_countries"))),
        T("lines_in_country", "medium", ("join", "filter"), [
            "Which shipping lines have their head office in {country}?",
            "List the shipping lines based in {country}.",
            "Show the names of lines headquartered in {country}.",
            "What shipping companies in our records are from {country}?",
            "Give me the lines whose head-office country is {country}.",
            "Find shipping lines with headquarters in {country}.",
            "Name the {country}-based shipping lines.",
        ], "SELECT sl.line_name FROM shipping_lines sl JOIN countries co ON sl.country_code = co.country_code "
           "WHERE co.country_name = '{country}'", one("country", "hq_countries"), n_train=30, n_test=5),
        T("terminal_calls_month", "medium", ("join", "calendar_date", "aggregation"), [
            "How many ships berthed at {terminal} in {month_name} {year}?",
            "Count the port calls at {terminal} during {month_name} {year}.",
            "How many calls did {terminal} handle in {month_name} {year}?",
            "Number of arrivals at {terminal} in {month_name} {year}?",
            "In {month_name} {year}, how many vessels moored at {terminal}?",
            "What was the call count of {terminal} for {month_name} {year}?",
            "{terminal}, {month_name} {year}: how many port calls?",
        ], f"SELECT COUNT(*) {CALLS_TERMINAL} WHERE t.terminal_name = '{{terminal}}' AND YEAR(pc.arrived_at) = {{year}} "
           "AND MONTH(pc.arrived_at) = {month}", merge(one("terminal", "terminals"), month_slots)),
        T("terminal_teu_quarter", "medium", ("join", "calendar_date", "aggregation", "filter"), [
            "How many TEU were {dir_word} at {terminal} in Q{q} {year}?",
            "Total TEU {dir_word} at {terminal} during the {q_word} quarter of {year}?",
            "Sum the TEU {dir_word} at {terminal} in {year}, quarter {q}.",
            "In Q{q} of {year}, how many TEU did {terminal} see {dir_word}?",
            "What volume in TEU was {dir_word} at {terminal} in Q{q} {year}?",
            "Give me the TEU {dir_word} at {terminal} for the {q_word} quarter of {year}.",
            "{terminal}: TEU {dir_word} in Q{q} {year}?",
        ], f"SELECT SUM(cm.teu) {CARGO_CALLS} JOIN terminals t ON pc.terminal_code = t.terminal_code "
           "WHERE t.terminal_name = '{terminal}' AND cm.direction = '{dir}' AND YEAR(pc.arrived_at) = {year} "
           "AND QUARTER(pc.arrived_at) = {q}",
            merge(one("terminal", "container_terminals"), direction_slots, quarter_slots)),
        T("cargo_tonnes_year", "medium", ("join", "calendar_date", "aggregation", "filter"), [
            "How many tonnes of {cargo} were {dir_word} in {year}?",
            "Total weight of {cargo} {dir_word} at the port during {year}, in tonnes?",
            "Sum the tonnes of {cargo} {dir_word} in {year}.",
            "In {year}, what tonnage of {cargo} was {dir_word}?",
            "How much {cargo} (tonnes) was {dir_word} in {year}?",
            "Give me the {year} tonnage of {cargo} {dir_word} here.",
            "{cargo} {dir_word} in {year}: how many tonnes?",
        ], f"SELECT SUM(cm.weight_tonnes) {CARGO_CALLS} JOIN cargo_types ct ON cm.cargo_type_code = ct.cargo_type_code "
           "WHERE ct.cargo_type_name = '{cargo}' AND cm.direction = '{dir}' AND YEAR(pc.arrived_at) = {year}",
            merge(one("cargo", "cargo_names"), direction_slots, year_slots)),
        T("top_vessels_terminal", "medium", ("join", "calendar_date", "group_by", "order_limit", "aggregation"), [
            "Which {n} vessels called most often at {terminal} in {year}?",
            "List the {n} ships with the most calls at {terminal} during {year}.",
            "Top {n} vessels by number of calls at {terminal} in {year}?",
            "Show the {n} most frequent visitors of {terminal} in {year} with their call counts.",
            "What were the {n} vessels calling {terminal} most in {year}?",
            "Rank ships by calls at {terminal} in {year} and give the top {n}.",
            "{terminal} in {year}: the {n} vessels with the most calls?",
        ], f"SELECT v.vessel_name, COUNT(*) AS calls {CALLS_VESSEL} JOIN terminals t ON pc.terminal_code = t.terminal_code "
           "WHERE t.terminal_name = '{terminal}' AND YEAR(pc.arrived_at) = {year} GROUP BY v.vessel_name "
           "ORDER BY calls DESC LIMIT {n}",
            merge(one("terminal", "terminals"), year_slots, choice("n", [2, 3, 5]))),
        T("busiest_berth", "medium", ("join", "calendar_date", "group_by", "order_limit", "aggregation"), [
            "Which berth of {terminal} had the most calls in {month_name} {year}?",
            "At {terminal}, which berth was busiest by number of calls in {month_name} {year}?",
            "What berth number at {terminal} saw the most port calls during {month_name} {year}?",
            "Find the {terminal} berth with the highest call count in {month_name} {year}.",
            "In {month_name} {year}, which berth at {terminal} received the most ships?",
            "Busiest berth of {terminal} in {month_name} {year}, by calls?",
            "Give the berth of {terminal} with the most calls in {month_name} {year} and its count.",
        ], f"SELECT pc.berth_no, COUNT(*) AS calls {CALLS_TERMINAL} WHERE t.terminal_name = '{{terminal}}' "
           "AND YEAR(pc.arrived_at) = {year} AND MONTH(pc.arrived_at) = {month} GROUP BY pc.berth_no "
           "ORDER BY calls DESC LIMIT 1",
            merge(one("terminal", "terminals"), month_slots)),
        T("pilot_jobs_month", "medium", ("join", "calendar_date", "aggregation"), [
            "How many pilotage jobs did {pilot} do in {month_name} {year}?",
            "Count the pilotage legs piloted by {pilot} in {month_name} {year}.",
            "How many ships did pilot {pilot} guide during {month_name} {year} (counting each leg)?",
            "Number of pilot jobs for {pilot} in {month_name} {year}?",
            "In {month_name} {year}, how many pilotage jobs were done by {pilot}?",
            "What was {pilot}'s pilotage job count in {month_name} {year}?",
            "Pilot {pilot}, {month_name} {year}: how many jobs?",
        ], "SELECT COUNT(*) FROM pilotage_jobs pj JOIN pilots pi ON pj.pilot_id = pi.pilot_id "
           "WHERE pi.full_name = '{pilot}' AND YEAR(pj.started_at) = {year} AND MONTH(pj.started_at) = {month}",
            merge(one("pilot", "pilots"), month_slots)),
        T("arrivals_from_port", "medium", ("join", "calendar_date", "aggregation"), [
            "How many ships arrived from {wport} in {year}?",
            "Count the port calls in {year} whose previous port was {wport}.",
            "How many vessels came here directly from {wport} during {year}?",
            "Number of {year} arrivals with {wport} as the last port of call?",
            "In {year}, how many calls came from {wport}?",
            "How many ships sailed in from {wport} in {year}?",
            "{year} calls whose previous port was {wport}: how many?",
        ], "SELECT COUNT(*) FROM port_calls pc JOIN world_ports wp ON pc.previous_port_code = wp.port_code "
           "WHERE wp.port_name = '{wport}' AND YEAR(pc.arrived_at) = {year}",
            merge(one("wport", "world_ports"), year_slots)),
        T("line_unpaid_invoices", "medium", ("join", "null_handling", "filter"), [
            "Which port dues invoices to {line} are still unpaid?",
            "List the unpaid invoices of {line} with their issue date and amount.",
            "Show the invoices billed to {line} that have not been paid.",
            "What does {line} still owe? List the open invoices.",
            "Give me invoice number, issue date and amount of every unpaid {line} invoice.",
            "Find the {line} invoices without a payment date.",
            "Open (unpaid) invoices for {line}?",
        ], "SELECT inv.invoice_id, inv.issued_date, inv.amount_eur FROM port_dues_invoices inv "
           "JOIN shipping_lines sl ON inv.line_id = sl.line_id WHERE sl.line_name = '{line}' AND inv.paid_date IS NULL",
            one("line", "lines"), n_train=30, n_test=6),
        T("flag_inspections_deficient", "medium", ("join", "aggregation", "filter"), [
            "How many inspections of ships flagged in {country} found at least {n} deficiencies?",
            "Count inspections of {country}-flagged vessels with {n} or more deficiencies.",
            "How many times did an inspection of a {country}-flag ship find {n} deficiencies or more?",
            "Number of inspections with at least {n} deficiencies on ships under the {country} flag?",
            "For ships registered in {country}, how many inspections recorded {n}+ deficiencies?",
            "What is the count of inspections of {country} ships that found no fewer than {n} deficiencies?",
            "{country}-flagged ships: inspections with {n} or more deficiencies, how many?",
        ], "SELECT COUNT(*) FROM inspections ins JOIN vessels v ON ins.imo_number = v.imo_number "
           "JOIN countries co ON v.flag_country_code = co.country_code WHERE co.country_name = '{country}' "
           "AND ins.deficiencies >= {n}",
            merge(one("country", "flag_countries"), choice("n", [1, 2, 3, 4, 5, 6, 8, 10]))),
        T("avg_stay_type", "medium", ("join", "calendar_date", "aggregation", "null_handling"), [
            "What was the average time alongside, in hours, of {type_plural} in {year}?",
            "On average, how many hours did {type_plural} stay at the berth in {year}?",
            "Average berth stay in hours for {type_plural} arriving in {year}?",
            "How long, in hours, did a {type_label} spend alongside on average in {year}?",
            "Compute the mean hours from arrival to departure for {type_plural} in {year}.",
            "In {year}, what was the average stay of {type_plural} at the quay, in hours?",
            "Mean time alongside (hours) of {type_plural}, {year}?",
        ], f"SELECT AVG({STAY_HOURS}) {CALLS_VESSEL} WHERE v.vessel_type = '{{vtype}}' AND YEAR(pc.arrived_at) = {{year}}",
            merge(vtype_slots, year_slots), n_train=16, n_test=4),
        T("tonnes_by_category", "medium", ("join", "calendar_date", "group_by", "aggregation"), [
            "Break down the cargo {dir_word} in Q{q} {year} by cargo category, in tonnes.",
            "How many tonnes of each cargo category were {dir_word} in Q{q} {year}?",
            "Show the tonnage {dir_word} per cargo category during the {q_word} quarter of {year}.",
            "Per cargo category, what weight was {dir_word} in Q{q} {year}?",
            "Give me tonnes {dir_word} by category for {year} quarter {q}.",
            "Tonnage {dir_word} in Q{q} {year}, split by cargo category?",
            "For each cargo category, the tonnes {dir_word} in the {q_word} quarter of {year}?",
        ], f"SELECT ct.category, SUM(cm.weight_tonnes) AS tonnes {CARGO_CALLS} "
           "JOIN cargo_types ct ON cm.cargo_type_code = ct.cargo_type_code WHERE cm.direction = '{dir}' "
           "AND YEAR(pc.arrived_at) = {year} AND QUARTER(pc.arrived_at) = {q} GROUP BY ct.category",
            merge(direction_slots, quarter_slots), n_train=20, n_test=4),
        T("monthly_calls_terminal", "medium", ("join", "calendar_date", "group_by", "aggregation"), [
            "Show the number of calls per month at {terminal} in {year}.",
            "How many port calls did {terminal} have in each month of {year}?",
            "Monthly call counts for {terminal} during {year}, in month order.",
            "Break down {year} calls at {terminal} by month.",
            "Give me, month by month, the calls at {terminal} in {year}.",
            "Calls per month at {terminal} for {year}?",
            "List each month of {year} with the number of ships that berthed at {terminal}.",
        ], f"SELECT MONTH(pc.arrived_at) AS month, COUNT(*) AS calls {CALLS_TERMINAL} WHERE t.terminal_name = '{{terminal}}' "
           "AND YEAR(pc.arrived_at) = {year} GROUP BY MONTH(pc.arrived_at) ORDER BY month",
            merge(one("terminal", "terminals"), year_slots), n_train=16, n_test=4),
        T("anchor_wait_terminal", "medium", ("join", "calendar_date", "null_handling", "aggregation"), [
            "On average, how many hours did ships wait at anchor before berthing at {terminal} in {year}?",
            "Average anchorage waiting time in hours for ships bound for {terminal} in {year}, counting only ships that anchored?",
            "How long did vessels that had to anchor wait for a berth at {terminal} in {year}, on average (hours)?",
            "Mean hours between dropping anchor and berthing at {terminal} in {year}?",
            "For {terminal} in {year}, what was the average wait at anchor in hours among ships that waited?",
            "In {year}, how many hours on average did ships anchored for {terminal} wait before mooring?",
            "Average anchor wait (hours) of ships that waited for {terminal} in {year}?",
        ], "SELECT AVG(DATE_DIFF('minute', pc.anchored_at, pc.arrived_at) / 60.0) "
           f"{CALLS_TERMINAL} WHERE t.terminal_name = '{{terminal}}' AND YEAR(pc.arrived_at) = {{year}}",
            merge(one("terminal", "terminals"), year_slots), n_train=16, n_test=4),
        T("hazardous_movements_terminal", "medium", ("join", "calendar_date", "null_handling", "aggregation"), [
            "How many movements of hazardous cargo were handled at {terminal} in {year}?",
            "Count the dangerous-goods cargo movements at {terminal} during {year}.",
            "How many cargo movements with a hazard class took place at {terminal} in {year}?",
            "Number of hazardous cargo movements at {terminal} in {year}?",
            "In {year}, how many times was hazardous cargo moved at {terminal}?",
            "How many cargo movements of dangerous goods did {terminal} record in {year}?",
            "{terminal} in {year}: hazardous cargo movements, how many?",
        ], f"SELECT COUNT(*) {CARGO_CALLS} JOIN cargo_types ct ON cm.cargo_type_code = ct.cargo_type_code "
           "JOIN terminals t ON pc.terminal_code = t.terminal_code WHERE t.terminal_name = '{terminal}' "
           "AND ct.hazard_class IS NOT NULL AND YEAR(pc.arrived_at) = {year}",
            merge(one("terminal", "terminals"), year_slots), n_train=16, n_test=4),
        T("line_ships_at_terminal", "medium", ("join", "calendar_date", "distinct", "filter"), [
            "Which {line} ships berthed at {terminal} in {month_name} {year}?",
            "List the distinct {line} vessels that called at {terminal} during {month_name} {year}.",
            "Show the {line} ships seen at {terminal} in {month_name} {year}.",
            "What vessels of {line} moored at {terminal} in {month_name} {year}?",
            "Give me the names of {line} ships with a call at {terminal} in {month_name} {year}.",
            "In {month_name} {year}, which ships operated by {line} came to {terminal}?",
            "{line} vessels at {terminal} in {month_name} {year}?",
        ], f"SELECT DISTINCT v.vessel_name {CALLS_VESSEL} JOIN shipping_lines sl ON v.line_id = sl.line_id "
           "JOIN terminals t ON pc.terminal_code = t.terminal_code WHERE sl.line_name = '{line}' "
           "AND t.terminal_name = '{terminal}' AND YEAR(pc.arrived_at) = {year} AND MONTH(pc.arrived_at) = {month}",
            merge(pair_slots(("line", "terminal"), "line_terminals"), month_slots)),
        T("cruise_line_passengers", "medium", ("join", "calendar_date", "aggregation"), [
            "How many passengers arrived on {line} ships in {year}?",
            "Total passengers on board {line} cruise calls during {year}?",
            "Sum the passenger counts of {line} calls in {year}.",
            "How many cruise passengers did {line} bring in {year}?",
            "In {year}, how many passengers came in on {line} vessels?",
            "What was the passenger total for {line} calls in {year}?",
            "{line}, {year}: passengers arriving?",
        ], f"SELECT SUM(pc.passenger_count) {CALLS_VESSEL} JOIN shipping_lines sl ON v.line_id = sl.line_id "
           "WHERE sl.line_name = '{line}' AND YEAR(pc.arrived_at) = {year}",
            merge(one("line", "cruise_lines"), year_slots), n_train=16, n_test=3),
        T("teu_partner_country", "medium", ("join", "calendar_date", "aggregation", "filter"), [
            "How many TEU were {dir_word} in {year} with ports in {country} as the cargo's partner port?",
            "Total TEU {dir_word} in {year} whose partner port is in {country}?",
            "Sum the TEU {dir_word} during {year} for cargo to or from ports in {country}.",
            "In {year}, how many TEU {dir_word} here were linked to {country} ports?",
            "How much container volume (TEU) was {dir_word} in {year} with a partner port in {country}?",
            "Give me the TEU {dir_word} in {year} where the partner port lies in {country}.",
            "{country} partner ports, {year}: TEU {dir_word}?",
        ], f"SELECT SUM(cm.teu) {CARGO_CALLS} JOIN world_ports wp ON cm.partner_port_code = wp.port_code "
           "JOIN countries co ON wp.country_code = co.country_code WHERE co.country_name = '{country}' "
           "AND cm.direction = '{dir}' AND YEAR(pc.arrived_at) = {year}",
            merge(one("country", "port_countries"), direction_slots, year_slots)),
    ]
