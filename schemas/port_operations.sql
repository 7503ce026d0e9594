-- A seaport's operations database (MySQL-flavoured DDL: inline COMMENT clauses, table-level keys,
-- a composite foreign key). Example input for `sqltune schema show`.

CREATE TABLE terminals (
    terminal_code CHAR(4) NOT NULL COMMENT 'Short code painted on the quay, e.g. CT1.',
    terminal_name VARCHAR(80) NOT NULL,
    cargo_kind VARCHAR(20) NOT NULL COMMENT 'container, bulk, liquid, roro or passenger',
    PRIMARY KEY (terminal_code)
) COMMENT = 'Terminals of the port; each operates its own berths.';

CREATE TABLE berths (
    terminal_code CHAR(4) NOT NULL,
    berth_no SMALLINT NOT NULL,
    length_m DECIMAL(6, 1) NOT NULL COMMENT 'Usable quay length in metres.',
    max_draft_m DECIMAL(4, 1) NOT NULL COMMENT 'Deepest draught a ship may have at this berth.',
    PRIMARY KEY (terminal_code, berth_no),
    FOREIGN KEY (terminal_code) REFERENCES terminals (terminal_code)
) COMMENT = 'Berths (mooring places), numbered within their terminal.';

CREATE TABLE shipping_lines (
    line_id INT NOT NULL,
    line_name VARCHAR(80) NOT NULL,
    country_code CHAR(2) NOT NULL COMMENT 'Flag country of the operator, ISO alpha-2.',
    PRIMARY KEY (line_id)
) COMMENT = 'Companies that operate vessels.';

CREATE TABLE vessels (
    imo_number INT NOT NULL COMMENT 'IMO ship identification number (7 digits), never reused.',
    vessel_name VARCHAR(80) NOT NULL,
    vessel_type VARCHAR(20) NOT NULL COMMENT 'container, bulk_carrier, tanker, roro, cruise',
    gross_tonnage INT NOT NULL,
    line_id INT,
    PRIMARY KEY (imo_number),
    CONSTRAINT fk_vessel_line FOREIGN KEY (line_id) REFERENCES shipping_lines (line_id)
) COMMENT = 'Ships known to the port.';

CREATE TABLE port_calls (
    call_id BIGINT NOT NULL,
    imo_number INT NOT NULL,
    terminal_code CHAR(4) NOT NULL,
    berth_no SMALLINT NOT NULL,
    arrived_at DATETIME NOT NULL COMMENT 'Time the first mooring line was made fast (UTC).',
    departed_at DATETIME COMMENT 'NULL while the ship is still alongside.',
    PRIMARY KEY (call_id),
    FOREIGN KEY (imo_number) REFERENCES vessels (imo_number),
    FOREIGN KEY (terminal_code, berth_no) REFERENCES berths (terminal_code, berth_no)
) COMMENT = 'One visit of a vessel to a berth.';

CREATE TABLE cargo_movements (
    movement_id BIGINT NOT NULL,
    call_id BIGINT NOT NULL,
    direction CHAR(1) NOT NULL COMMENT 'L = loaded onto the ship, D = discharged from it.',
    cargo_type VARCHAR(30) NOT NULL,
    teu SMALLINT COMMENT 'Twenty-foot equivalent units; NULL for non-container cargo.',
    weight_tonnes DECIMAL(10, 2) NOT NULL,
    PRIMARY KEY (movement_id),
    FOREIGN KEY (call_id) REFERENCES port_calls (call_id)
) COMMENT = 'Cargo loaded or discharged during a port call.';

CREATE TABLE pilots (
    pilot_id INT NOT NULL,
    full_name VARCHAR(80) NOT NULL,
    licence_class CHAR(1) NOT NULL COMMENT 'A pilots may take any ship; B only ships under 50000 GT.',
    PRIMARY KEY (pilot_id)
) COMMENT = 'Harbour pilots who steer ships in and out.';

CREATE TABLE pilotage_jobs (
    call_id BIGINT NOT NULL,
    pilot_id INT NOT NULL,
    leg VARCHAR(8) NOT NULL COMMENT 'inbound or outbound',
    started_at DATETIME NOT NULL,
    PRIMARY KEY (call_id, pilot_id, leg),
    FOREIGN KEY (call_id) REFERENCES port_calls (call_id),
    FOREIGN KEY (pilot_id) REFERENCES pilots (pilot_id)
) COMMENT = 'Which pilot guided which port call, per leg (bridge between pilots and port_calls).';

CREATE TABLE tariffs (
    vessel_type VARCHAR(20) NOT NULL,
    valid_from DATE NOT NULL,
    fee_per_gt DECIMAL(8, 4) NOT NULL COMMENT 'Port dues per gross ton per call, in EUR.',
    PRIMARY KEY (vessel_type, valid_from)
) COMMENT = 'Port dues by vessel type; a tariff applies from valid_from until the next one.';
