"""Hard ports templates: ratios, nesting, windows, several facts."""

from __future__ import annotations

from warehouse_fixtures.corpus import Template
from warehouse_fixtures.ports_templates.slots import (CALLS_TERMINAL, CALLS_VESSEL, CARGO_CALLS, STAY_HOURS, T, choice,
                                                   day_slots, long_date, merge, month_slots, one, pick,
                                                   prev_year_slots, vtype_slots, year_slots)


def hard_templates() -> list[Template]:
    """Ratios, nesting, windows and several facts."""
    return [
        T("line_teu_share", "hard", ("join", "calendar_date", "aggregation", "conditional_aggregation", "null_handling"), [
            "What percentage of the TEU handled in {year} was on {line} ships?",
            "Share of {year} container volume (TEU) carried by {line} vessels, in percent?",
            "Of all TEU loaded and discharged in {year}, what percent moved on {line} ships?",
            "In {year}, what was {line}'s share of the port's TEU, as a percentage?",
            "How much of the {year} TEU throughput, in percent, came on {line} vessels?",
            "Compute {line}'s percentage of total TEU handled in {year}.",
            "{line}: percent of {year} TEU?",
        ], f"SELECT 100.0 * SUM(CASE WHEN sl.line_name = '{{line}}' THEN cm.teu END) / SUM(cm.teu) {CARGO_CALLS} "
           "JOIN vessels v ON pc.imo_number = v.imo_number LEFT JOIN shipping_lines sl ON v.line_id = sl.line_id "
           "WHERE YEAR(pc.arrived_at) = {year}",
            merge(one("line", "container_lines"), year_slots), n_train=24, n_test=5),
        T("tariff_on_day", "hard", ("nested", "calendar_date", "price_history"), [
            "Which port dues tariff, in EUR per GT, applied to {type_plural} on {d1_long}?",
            "What was the fee per gross ton for {type_plural} in force on {d1}?",
            "On {d1_long}, what did the port charge {type_plural} per GT?",
            "Give me the tariff per GT for a {type_label} arriving on {d1}.",
            "What fee per GT was valid for {type_plural} on {d1_long}?",
            "Port dues rate for {type_plural} as of {d1_long}, per gross ton?",
            "If a {type_label} arrived on {d1}, what fee per GT applied?",
        ], "SELECT fee_per_gt FROM tariffs WHERE vessel_type = '{vtype}' AND valid_from = "
           "(SELECT MAX(valid_from) FROM tariffs WHERE vessel_type = '{vtype}' AND valid_from <= DATE '{d1}')",
            merge(vtype_slots, day_slots("d1"))),
        T("call_dues_from_tariff", "hard", ("nested", "join", "calendar_date", "price_history"), [
            "Using the tariff table, what port dues apply to the call of {vessel} that arrived on {d1_long}?",
            "Compute the port dues (GT times the tariff in force) for {vessel}'s call arriving {d1}.",
            "What should {vessel} pay in port dues for the call that began on {d1_long}, from its gross tonnage and the tariff?",
            "Work out the dues for the {d1} call of {vessel}: gross tonnage times the fee per GT then in force.",
            "How much are the port dues, by tariff, for {vessel} arriving on {d1_long}?",
            "Port dues by the tariff for the call of {vessel} on {d1}?",
            "From the tariffs, what do the dues come to for {vessel}'s arrival on {d1_long}?",
        ], "SELECT v.gross_tonnage * tf.fee_per_gt FROM port_calls pc JOIN vessels v ON pc.imo_number = v.imo_number "
           "JOIN tariffs tf ON tf.vessel_type = v.vessel_type WHERE v.vessel_name = '{vessel}' "
           "AND CAST(pc.arrived_at AS DATE) = DATE '{d1}' AND tf.valid_from = (SELECT MAX(tf2.valid_from) FROM tariffs tf2 "
           "WHERE tf2.vessel_type = v.vessel_type AND tf2.valid_from <= CAST(pc.arrived_at AS DATE))",
            lambda v, r: (lambda vd: {"vessel": vd[0], "d1": vd[1].isoformat(), "d1_long": long_date(vd[1])})(
                pick(r, v.vessel_call_days))),
        T("rank_line_ships", "hard", ("join", "calendar_date", "group_by", "window", "aggregation"), [
            "Rank the ships of {line} by their number of calls in {year}.",
            "For {year}, give each {line} vessel its call count and its rank (most calls first).",
            "Show {line}'s ships with their {year} call counts and a rank by calls.",
            "List {line} vessels, how often each called in {year}, and their ranking.",
            "Rank {line} ships from most to fewest calls in {year}, with ties sharing a rank.",
            "Which {line} ships called most in {year}? Give counts and ranks.",
            "{line} fleet, {year}: calls per ship with a rank?",
        ], f"SELECT v.vessel_name, COUNT(*) AS calls, RANK() OVER (ORDER BY COUNT(*) DESC) AS call_rank {CALLS_VESSEL} "
           "JOIN shipping_lines sl ON v.line_id = sl.line_id WHERE sl.line_name = '{line}' AND YEAR(pc.arrived_at) = {year} "
           "GROUP BY v.vessel_name",
            merge(one("line", "lines"), year_slots)),
        T("calls_month_change", "hard", ("join", "calendar_date", "window", "nested", "aggregation"), [
            "For each month of {year}, how did the number of calls at {terminal} change from the month before?",
            "Show monthly calls at {terminal} in {year} and the change versus the previous month.",
            "Month-over-month change in calls at {terminal} during {year}?",
            "List each month of {year} with its call count at {terminal} and the difference from the prior month.",
            "How many calls did {terminal} have each month in {year}, and by how much did that differ from the previous month?",
            "Give the monthly calls and month-on-month change for {terminal} in {year}.",
            "{terminal} {year}: calls per month and change from the month before?",
        ], "WITH monthly AS (SELECT MONTH(pc.arrived_at) AS month, COUNT(*) AS calls "
           f"{CALLS_TERMINAL} WHERE t.terminal_name = '{{terminal}}' AND YEAR(pc.arrived_at) = {{year}} "
           "GROUP BY MONTH(pc.arrived_at)) SELECT month, calls, calls - LAG(calls) OVER (ORDER BY month) AS change "
           "FROM monthly ORDER BY month",
            merge(one("terminal", "terminals"), year_slots), n_train=16, n_test=4),
        T("long_stays_month", "hard", ("nested", "join", "calendar_date", "aggregation"), [
            "Which ships at {terminal} in {month_name} {year} stayed alongside longer than the terminal's average stay for {year}?",
            "List calls at {terminal} in {month_name} {year} whose time alongside beat the {year} average for {terminal}.",
            "In {month_name} {year}, which vessels stayed at {terminal} longer than its average stay over {year}?",
            "Show ships and arrival times at {terminal} in {month_name} {year} with a stay above that terminal's {year} mean.",
            "Find the {month_name} {year} calls at {terminal} that lasted longer than the average {year} call there.",
            "Which {month_name} {year} visitors of {terminal} were alongside for longer than the {year} average at {terminal}?",
            "{terminal}, {month_name} {year}: calls longer than the year's average stay?",
        ], f"SELECT v.vessel_name, pc.arrived_at {CALLS_VESSEL} JOIN terminals t ON pc.terminal_code = t.terminal_code "
           "WHERE t.terminal_name = '{terminal}' AND YEAR(pc.arrived_at) = {year} AND MONTH(pc.arrived_at) = {month} "
           f"AND {STAY_HOURS} > (SELECT AVG(DATE_DIFF('minute', pc2.arrived_at, pc2.departed_at) / 60.0) "
           "FROM port_calls pc2 WHERE pc2.terminal_code = t.terminal_code AND YEAR(pc2.arrived_at) = {year})",
            merge(one("terminal", "terminals"), month_slots)),
        T("lines_many_calls", "hard", ("join", "calendar_date", "group_by", "having", "aggregation"), [
            "Which shipping lines had more than {n} port calls in {year}?",
            "List lines whose ships made over {n} calls during {year}, with the counts.",
            "Show the shipping lines with a {year} call count above {n}.",
            "What lines called more than {n} times in {year}?",
            "Find shipping lines with more than {n} calls in {year}.",
            "In {year}, which lines' vessels berthed more than {n} times?",
            "Lines with over {n} calls in {year}, and how many each?",
        ], f"SELECT sl.line_name, COUNT(*) AS calls {CALLS_VESSEL} JOIN shipping_lines sl ON v.line_id = sl.line_id "
           "WHERE YEAR(pc.arrived_at) = {year} GROUP BY sl.line_name HAVING COUNT(*) > {n}",
            merge(year_slots, choice("n", [50, 80, 100, 150, 200, 250, 300, 400]))),
        T("never_called_flag", "hard", ("nested", "join", "null_handling"), [
            "Which {type_plural} flagged in {country} have never called at the port?",
            "List {country}-flagged {type_plural} without a single port call.",
            "Show the {type_plural} under the {country} flag that never berthed here.",
            "What {type_plural} registered in {country} have no port calls at all?",
            "Find {type_plural} flying the {country} flag that have never visited.",
            "Which {country} {type_plural} are in the register but never called?",
            "{country}-flagged {type_plural} that never called?",
        ], "SELECT v.vessel_name FROM vessels v JOIN countries co ON v.flag_country_code = co.country_code "
           "WHERE co.country_name = '{country}' AND v.vessel_type = '{vtype}' "
           "AND NOT EXISTS (SELECT 1 FROM port_calls pc WHERE pc.imo_number = v.imo_number)",
            merge(vtype_slots, one("country", "flag_countries"))),
        T("crane_productivity", "hard", ("join", "calendar_date", "aggregation"), [
            "What was the average number of crane moves per working hour at {terminal} in {year}?",
            "Crane productivity at {terminal} in {year}: total moves divided by total crane hours?",
            "How many moves per crane hour did {terminal} achieve in {year}?",
            "Compute moves per crane-hour for {terminal} over {year}.",
            "In {year}, what was {terminal}'s crane productivity in moves per hour?",
            "Give the ratio of crane moves to crane working hours at {terminal} for {year}.",
            "{terminal} {year}: moves per crane hour?",
        ], "SELECT SUM(ca.moves) / SUM(ca.work_hours) FROM crane_assignments ca JOIN cranes cr ON ca.crane_id = cr.crane_id "
           "JOIN terminals t ON cr.terminal_code = t.terminal_code JOIN port_calls pc ON ca.call_id = pc.call_id "
           "WHERE t.terminal_name = '{terminal}' AND YEAR(pc.arrived_at) = {year}",
            merge(one("terminal", "crane_terminals"), year_slots), n_train=12, n_test=3),
        T("line_calls_yoy", "hard", ("join", "calendar_date", "aggregation", "conditional_aggregation"), [
            "Compare the number of calls by {line} ships in {py} and {year}.",
            "Show {line}'s port calls in {py} and in {year} side by side.",
            "How many calls did {line} vessels make in {py}, and how many in {year}?",
            "Give the {py} and {year} call counts for {line} in two columns.",
            "Year over year: {line} calls in {py} versus {year}?",
            "How did {line}'s number of calls in {year} compare with {py}?",
            "{line}: calls {py} vs {year}?",
        ], f"SELECT COUNT(CASE WHEN YEAR(pc.arrived_at) = {{py}} THEN 1 END) AS calls_{{py}}, "
           f"COUNT(CASE WHEN YEAR(pc.arrived_at) = {{year}} THEN 1 END) AS calls_{{year}} {CALLS_VESSEL} "
           "JOIN shipping_lines sl ON v.line_id = sl.line_id WHERE sl.line_name = '{line}'",
            merge(one("line", "lines"), prev_year_slots)),
        T("top_origin_country", "hard", ("join", "calendar_date", "group_by", "order_limit", "aggregation"), [
            "From which country did most ships berthing at {terminal} in {year} arrive, judging by their previous port?",
            "Which country's ports were the most common previous port for calls at {terminal} in {year}?",
            "For {terminal} in {year}, what country did the largest number of ships sail in from?",
            "Top country of origin (previous port) for {terminal} calls in {year}, with the count?",
            "In {year}, which country supplied the most arrivals at {terminal}, by previous port?",
            "Name the country whose ports sent the most ships to {terminal} in {year}.",
            "{terminal}, {year}: country with the most arrivals by previous port?",
        ], "SELECT co.country_name, COUNT(*) AS calls FROM port_calls pc JOIN terminals t ON pc.terminal_code = t.terminal_code "
           "JOIN world_ports wp ON pc.previous_port_code = wp.port_code JOIN countries co ON wp.country_code = co.country_code "
           "WHERE t.terminal_name = '{terminal}' AND YEAR(pc.arrived_at) = {year} GROUP BY co.country_name "
           "ORDER BY calls DESC LIMIT 1",
            merge(one("terminal", "terminals"), year_slots), n_train=16, n_test=4),
        T("frequent_detained", "hard", ("nested", "join", "calendar_date", "group_by", "having"), [
            "Which vessels called more than {n} times in {year} and were detained at least once in {year}?",
            "List ships with over {n} calls in {year} that also had a detention that year.",
            "Show the vessels that made more than {n} calls during {year} and were detained in {year}.",
            "What frequent callers of {year} (more than {n} calls) were detained at some point that year?",
            "Find vessels with more than {n} port calls in {year} and at least one detention in {year}.",
            "Among ships calling over {n} times in {year}, which were detained during {year}?",
            "Vessels with > {n} calls in {year} and a {year} detention?",
        ], f"SELECT v.vessel_name {CALLS_VESSEL} WHERE YEAR(pc.arrived_at) = {{year}} AND v.imo_number IN "
           "(SELECT ins.imo_number FROM inspections ins WHERE ins.detained AND YEAR(ins.inspection_date) = {year}) "
           "GROUP BY v.vessel_name HAVING COUNT(*) > {n}",
            merge(year_slots, choice("n", [1, 2, 3, 4, 5, 6, 8])), n_train=14, n_test=3),
        T("slow_paying_lines", "hard", ("join", "calendar_date", "group_by", "having", "null_handling", "aggregation"), [
            "Which shipping lines took on average more than {n} days to pay their invoices issued in {year}?",
            "List lines whose {year} invoices were paid more than {n} days after issue on average.",
            "Show shipping lines with an average payment time above {n} days for {year} invoices (paid ones).",
            "What lines averaged over {n} days from invoice to payment in {year}?",
            "Find the slow payers: lines averaging more than {n} days to settle invoices issued in {year}.",
            "For invoices issued in {year}, which lines paid after more than {n} days on average?",
            "Lines with an average of more than {n} days to pay their {year} invoices, and that average?",
        ], "SELECT sl.line_name, AVG(inv.paid_date - inv.issued_date) AS avg_days_to_pay FROM port_dues_invoices inv "
           "JOIN shipping_lines sl ON inv.line_id = sl.line_id WHERE YEAR(inv.issued_date) = {year} "
           "GROUP BY sl.line_name HAVING AVG(inv.paid_date - inv.issued_date) > {n}",
            merge(year_slots, choice("n", [10, 15, 20, 25, 30, 35, 40]))),
        T("anchored_on_closed_days", "hard", ("join", "calendar_date", "null_handling", "aggregation"), [
            "How many ships bound for {terminal} dropped anchor in {year} on a day the port was closed?",
            "Count calls at {terminal} in {year} whose ship anchored on a port-closed day.",
            "In {year}, how many vessels waiting for {terminal} anchored on days when the port was shut?",
            "Number of {terminal} calls of {year} that began with anchoring on a closure day?",
            "How many times in {year} did a ship for {terminal} anchor while the port was closed?",
            "For {terminal}, how many {year} calls anchored on a day the harbour was closed?",
            "{terminal} {year}: calls that anchored on closed-port days?",
        ], f"SELECT COUNT(*) {CALLS_TERMINAL} JOIN weather_daily w ON CAST(pc.anchored_at AS DATE) = w.obs_date "
           "WHERE t.terminal_name = '{terminal}' AND w.port_closed AND YEAR(pc.arrived_at) = {year}",
            merge(one("terminal", "terminals"), year_slots), n_train=16, n_test=4),
        T("line_share_terminal", "hard", ("join", "calendar_date", "group_by", "window", "aggregation"), [
            "At {terminal} in {year}, what percentage of the calls by line-operated ships did each shipping line have?",
            "For {terminal} in {year}, give each shipping line's share of line-operated calls, in percent.",
            "Show every line's calls at {terminal} in {year} as a percentage of all calls by ships with a line.",
            "How were the {year} calls of line-operated ships at {terminal} split between lines, in percent?",
            "Per shipping line, percent of {terminal}'s {year} calls by line-operated vessels?",
            "In {year}, what share (percent) of line-operated calls at {terminal} did each line account for?",
            "{terminal}, {year}: each line's percentage of calls by ships with a line?",
        ], f"SELECT sl.line_name, 100.0 * COUNT(*) / SUM(COUNT(*)) OVER () AS pct_of_calls {CALLS_VESSEL} "
           "JOIN shipping_lines sl ON v.line_id = sl.line_id JOIN terminals t ON pc.terminal_code = t.terminal_code "
           "WHERE t.terminal_name = '{terminal}' AND YEAR(pc.arrived_at) = {year} GROUP BY sl.line_name",
            merge(one("terminal", "terminals"), year_slots), n_train=16, n_test=4),
        T("alliance_teu_per_call", "hard", ("nested", "join", "calendar_date", "aggregation"), [
            "What was the average TEU handled per call for ships of {alliance} lines in {year}?",
            "On average, how many TEU were moved per port call of {alliance} vessels in {year}?",
            "Average TEU per call in {year} for the {alliance} alliance?",
            "Compute the mean TEU (loaded plus discharged) per call by {alliance} ships during {year}.",
            "In {year}, how many TEU did a typical {alliance} call handle, on average?",
            "Mean TEU per call for lines in the {alliance} in {year}?",
            "{alliance}, {year}: average TEU per call?",
        ], "SELECT AVG(sub.call_teu) FROM (SELECT cm.call_id, SUM(cm.teu) AS call_teu "
           f"{CARGO_CALLS} JOIN vessels v ON pc.imo_number = v.imo_number JOIN shipping_lines sl ON v.line_id = sl.line_id "
           "WHERE sl.alliance = '{alliance}' AND YEAR(pc.arrived_at) = {year} GROUP BY cm.call_id) sub",
            merge(one("alliance", "alliances"), year_slots), n_train=8, n_test=2),
    ]
