-- Port of Kestrel Bay: a seaport operations warehouse (DuckDB dialect).
-- The builder (warehouse_fixtures/ports.py, sections in ports_dims.py and ports_facts.py) runs this DDL, then fills every table from ports.yaml.
-- Tables are in foreign-key order: a table only references tables created above it.
-- Unlike Harbor there is no date dimension: events carry their own DATE / TIMESTAMP columns (UTC),
-- several keys are text codes (country, port, terminal, cargo type), and several are composite.

CREATE TABLE countries (
    country_code VARCHAR PRIMARY KEY,
    country_name VARCHAR NOT NULL,
    continent VARCHAR NOT NULL
);
COMMENT ON TABLE countries IS 'Countries, used as ship flags, shipping-line head offices and port locations.';
COMMENT ON COLUMN countries.country_code IS 'ISO 3166 alpha-2 code, e.g. PA for Panama.';
COMMENT ON COLUMN countries.continent IS 'One of Africa, Asia, Europe, North America, Oceania, South America.';

CREATE TABLE world_ports (
    port_code VARCHAR PRIMARY KEY,
    port_name VARCHAR NOT NULL,
    country_code VARCHAR NOT NULL REFERENCES countries (country_code),
    is_transshipment_hub BOOLEAN NOT NULL
);
COMMENT ON TABLE world_ports IS 'Other ports of the world that ships come from, sail to, or that cargo is bound for.';
COMMENT ON COLUMN world_ports.port_code IS 'UN/LOCODE: country code + 3 letters, e.g. NLRTM for Rotterdam.';
COMMENT ON COLUMN world_ports.is_transshipment_hub IS 'True for hub ports where containers change ships.';

CREATE TABLE shipping_lines (
    line_id INTEGER PRIMARY KEY,
    line_name VARCHAR NOT NULL,
    country_code VARCHAR NOT NULL REFERENCES countries (country_code),
    alliance VARCHAR,
    founded_year INTEGER NOT NULL
);
COMMENT ON TABLE shipping_lines IS 'Companies that operate vessels (container lines, bulk and tanker operators, car carriers, cruise lines).';
COMMENT ON COLUMN shipping_lines.country_code IS 'Country of the head office (not the flag of its ships).';
COMMENT ON COLUMN shipping_lines.alliance IS 'Container-line alliance the line belongs to; NULL when it sails alone.';

CREATE TABLE vessels (
    imo_number INTEGER PRIMARY KEY,
    vessel_name VARCHAR NOT NULL,
    vessel_type VARCHAR NOT NULL,
    flag_country_code VARCHAR NOT NULL REFERENCES countries (country_code),
    line_id INTEGER REFERENCES shipping_lines (line_id),
    build_year INTEGER NOT NULL,
    gross_tonnage INTEGER NOT NULL,
    deadweight_tonnes INTEGER NOT NULL,
    length_overall_m DECIMAL(5, 1) NOT NULL,
    max_draft_m DECIMAL(4, 1) NOT NULL,
    teu_capacity INTEGER
);
COMMENT ON TABLE vessels IS 'Ships known to the port, whether or not they have called.';
COMMENT ON COLUMN vessels.imo_number IS 'IMO ship identification number (7 digits), never reused.';
COMMENT ON COLUMN vessels.vessel_type IS 'One of container, bulk_carrier, tanker, lng_carrier, roro, cruise, general_cargo.';
COMMENT ON COLUMN vessels.flag_country_code IS 'Flag state the ship is registered in (often a flag of convenience).';
COMMENT ON COLUMN vessels.line_id IS 'Operating shipping line; NULL for independently operated (tramp) ships.';
COMMENT ON COLUMN vessels.gross_tonnage IS 'Gross tonnage (GT), a volume measure; port dues are charged per GT.';
COMMENT ON COLUMN vessels.deadweight_tonnes IS 'Carrying capacity in metric tonnes.';
COMMENT ON COLUMN vessels.max_draft_m IS 'Draught of the ship when fully loaded, in metres.';
COMMENT ON COLUMN vessels.teu_capacity IS 'Container capacity in twenty-foot equivalent units; NULL for ships that are not container ships.';

CREATE TABLE terminals (
    terminal_code VARCHAR PRIMARY KEY,
    terminal_name VARCHAR NOT NULL,
    cargo_kind VARCHAR NOT NULL,
    operator_name VARCHAR NOT NULL,
    opened_year INTEGER NOT NULL
);
COMMENT ON TABLE terminals IS 'Terminals of the Port of Kestrel Bay; each operates its own berths and cranes.';
COMMENT ON COLUMN terminals.terminal_code IS 'Short code painted on the quay, e.g. CT1.';
COMMENT ON COLUMN terminals.cargo_kind IS 'One of container, dry_bulk, liquid_bulk, roro, passenger.';
COMMENT ON COLUMN terminals.operator_name IS 'Company that runs the terminal under a concession.';

CREATE TABLE berths (
    terminal_code VARCHAR NOT NULL REFERENCES terminals (terminal_code),
    berth_no INTEGER NOT NULL,
    length_m DECIMAL(6, 1) NOT NULL,
    max_draft_m DECIMAL(4, 1) NOT NULL,
    has_shore_power BOOLEAN NOT NULL,
    PRIMARY KEY (terminal_code, berth_no)
);
COMMENT ON TABLE berths IS 'Berths (mooring places), numbered within their terminal: berth 1 exists at several terminals.';
COMMENT ON COLUMN berths.length_m IS 'Usable quay length in metres.';
COMMENT ON COLUMN berths.max_draft_m IS 'Deepest draught a ship may have at this berth, in metres.';
COMMENT ON COLUMN berths.has_shore_power IS 'True when ships can plug into shore electricity instead of running engines.';

CREATE TABLE cranes (
    crane_id INTEGER PRIMARY KEY,
    terminal_code VARCHAR NOT NULL REFERENCES terminals (terminal_code),
    crane_type VARCHAR NOT NULL,
    max_lift_tonnes DECIMAL(5, 1) NOT NULL,
    commissioned_year INTEGER NOT NULL
);
COMMENT ON TABLE cranes IS 'Cargo-handling cranes and ship loaders, each fixed to one terminal.';
COMMENT ON COLUMN cranes.crane_type IS 'One of ship_to_shore, mobile_harbour, grab, ship_loader.';

CREATE TABLE cargo_types (
    cargo_type_code VARCHAR PRIMARY KEY,
    cargo_type_name VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    hazard_class VARCHAR
);
COMMENT ON TABLE cargo_types IS 'Kinds of cargo handled at the port.';
COMMENT ON COLUMN cargo_types.category IS 'One of container, dry bulk, liquid bulk, ro-ro, general cargo.';
COMMENT ON COLUMN cargo_types.hazard_class IS 'IMDG dangerous-goods class, e.g. 3 (flammable liquids); NULL for non-hazardous cargo.';

CREATE TABLE pilots (
    pilot_id INTEGER PRIMARY KEY,
    full_name VARCHAR NOT NULL,
    licence_class VARCHAR NOT NULL,
    hired_date DATE NOT NULL,
    retired_date DATE
);
COMMENT ON TABLE pilots IS 'Harbour pilots who steer ships in and out of the port.';
COMMENT ON COLUMN pilots.licence_class IS 'A: may take any ship; B: only ships under 50000 gross tonnage.';
COMMENT ON COLUMN pilots.retired_date IS 'Last day of service; NULL while the pilot is still working.';

CREATE TABLE tariffs (
    vessel_type VARCHAR NOT NULL,
    valid_from DATE NOT NULL,
    fee_per_gt DECIMAL(8, 4) NOT NULL,
    PRIMARY KEY (vessel_type, valid_from)
);
COMMENT ON TABLE tariffs IS 'Port dues by vessel type; a tariff applies to calls arriving from valid_from until the next tariff of that type.';
COMMENT ON COLUMN tariffs.vessel_type IS 'Same values as vessels.vessel_type.';
COMMENT ON COLUMN tariffs.fee_per_gt IS 'Port dues per gross ton per call, in EUR.';

CREATE TABLE weather_daily (
    obs_date DATE PRIMARY KEY,
    max_wind_knots DECIMAL(4, 1) NOT NULL,
    min_visibility_km DECIMAL(4, 1) NOT NULL,
    precipitation_mm DECIMAL(5, 1) NOT NULL,
    port_closed BOOLEAN NOT NULL
);
COMMENT ON TABLE weather_daily IS 'Daily weather at the harbour entrance, one row per day.';
COMMENT ON COLUMN weather_daily.max_wind_knots IS 'Strongest sustained wind of the day, in knots.';
COMMENT ON COLUMN weather_daily.port_closed IS 'True when the harbour master closed the entrance to arrivals that day (storm or fog).';

CREATE TABLE port_calls (
    call_id BIGINT PRIMARY KEY,
    imo_number INTEGER NOT NULL REFERENCES vessels (imo_number),
    terminal_code VARCHAR NOT NULL,
    berth_no INTEGER NOT NULL,
    voyage_number VARCHAR NOT NULL,
    previous_port_code VARCHAR NOT NULL REFERENCES world_ports (port_code),
    next_port_code VARCHAR REFERENCES world_ports (port_code),
    anchored_at TIMESTAMP,
    arrived_at TIMESTAMP NOT NULL,
    departed_at TIMESTAMP,
    arrival_draft_m DECIMAL(4, 1) NOT NULL,
    passenger_count INTEGER,
    FOREIGN KEY (terminal_code, berth_no) REFERENCES berths (terminal_code, berth_no)
);
COMMENT ON TABLE port_calls IS 'One visit of a vessel to a berth, from mooring to departure.';
COMMENT ON COLUMN port_calls.voyage_number IS 'Operator voyage reference, e.g. NH241E.';
COMMENT ON COLUMN port_calls.previous_port_code IS 'Port the ship came from.';
COMMENT ON COLUMN port_calls.next_port_code IS 'Declared next port; NULL when not declared yet or unknown.';
COMMENT ON COLUMN port_calls.anchored_at IS 'Time the ship dropped anchor to wait for its berth; NULL when it went straight to the berth.';
COMMENT ON COLUMN port_calls.arrived_at IS 'Time the first mooring line was made fast at the berth (UTC).';
COMMENT ON COLUMN port_calls.departed_at IS 'Time the ship left the berth (UTC); NULL while it is still alongside.';
COMMENT ON COLUMN port_calls.arrival_draft_m IS 'Draught on arrival, in metres.';
COMMENT ON COLUMN port_calls.passenger_count IS 'Passengers on board on arrival; NULL for ships that carry no passengers.';

CREATE TABLE cargo_movements (
    movement_id BIGINT PRIMARY KEY,
    call_id BIGINT NOT NULL REFERENCES port_calls (call_id),
    direction VARCHAR NOT NULL,
    cargo_type_code VARCHAR NOT NULL REFERENCES cargo_types (cargo_type_code),
    partner_port_code VARCHAR REFERENCES world_ports (port_code),
    teu INTEGER,
    weight_tonnes DECIMAL(10, 2) NOT NULL
);
COMMENT ON TABLE cargo_movements IS 'Cargo loaded or discharged during a port call, one row per cargo type, direction and partner port.';
COMMENT ON COLUMN cargo_movements.direction IS 'L = loaded onto the ship (export), D = discharged from it (import).';
COMMENT ON COLUMN cargo_movements.partner_port_code IS 'Port the cargo was loaded at (discharges) or is bound for (loadings); NULL when not declared.';
COMMENT ON COLUMN cargo_movements.teu IS 'Twenty-foot equivalent units; NULL for cargo that is not in containers.';
COMMENT ON COLUMN cargo_movements.weight_tonnes IS 'Gross weight in metric tonnes.';

CREATE TABLE crane_assignments (
    call_id BIGINT NOT NULL REFERENCES port_calls (call_id),
    crane_id INTEGER NOT NULL REFERENCES cranes (crane_id),
    moves INTEGER NOT NULL,
    work_hours DECIMAL(5, 2) NOT NULL,
    PRIMARY KEY (call_id, crane_id)
);
COMMENT ON TABLE crane_assignments IS 'Which cranes worked which port call (bridge between cranes and port_calls); only container and dry-bulk calls use cranes.';
COMMENT ON COLUMN crane_assignments.moves IS 'Lifts made by the crane on this call (a container or a grab load each).';
COMMENT ON COLUMN crane_assignments.work_hours IS 'Hours the crane worked the ship.';

CREATE TABLE pilotage_jobs (
    call_id BIGINT NOT NULL REFERENCES port_calls (call_id),
    pilot_id INTEGER NOT NULL REFERENCES pilots (pilot_id),
    leg VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    duration_minutes INTEGER NOT NULL,
    tug_count INTEGER NOT NULL,
    PRIMARY KEY (call_id, pilot_id, leg)
);
COMMENT ON TABLE pilotage_jobs IS 'Which pilot guided which port call, per leg (bridge between pilots and port_calls). Ships under 3000 GT need no pilot; ships over 100000 GT take two pilots.';
COMMENT ON COLUMN pilotage_jobs.leg IS 'inbound or outbound.';
COMMENT ON COLUMN pilotage_jobs.tug_count IS 'Tugs that assisted on this leg.';

CREATE TABLE port_dues_invoices (
    invoice_id INTEGER PRIMARY KEY,
    call_id BIGINT NOT NULL REFERENCES port_calls (call_id),
    line_id INTEGER REFERENCES shipping_lines (line_id),
    issued_date DATE NOT NULL,
    amount_eur DECIMAL(12, 2) NOT NULL,
    paid_date DATE
);
COMMENT ON TABLE port_dues_invoices IS 'Port dues invoiced for a completed call: gross tonnage times the tariff in force on the arrival day.';
COMMENT ON COLUMN port_dues_invoices.line_id IS 'Shipping line billed; NULL when the ship is independent and its agent is billed.';
COMMENT ON COLUMN port_dues_invoices.paid_date IS 'Date the payment arrived; NULL while unpaid.';

CREATE TABLE inspections (
    inspection_id INTEGER PRIMARY KEY,
    call_id BIGINT NOT NULL REFERENCES port_calls (call_id),
    imo_number INTEGER NOT NULL REFERENCES vessels (imo_number),
    inspection_date DATE NOT NULL,
    inspection_type VARCHAR NOT NULL,
    deficiencies INTEGER NOT NULL,
    detained BOOLEAN NOT NULL
);
COMMENT ON TABLE inspections IS 'Inspections of ships during their calls.';
COMMENT ON COLUMN inspections.inspection_type IS 'One of port_state_control, safety, environmental.';
COMMENT ON COLUMN inspections.deficiencies IS 'Number of deficiencies found.';
COMMENT ON COLUMN inspections.detained IS 'True when the ship was detained until the deficiencies were fixed.';
