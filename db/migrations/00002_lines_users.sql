-- +goose Up
-- The line pool as Linq reports it plus Linegate's own admin state.
CREATE TABLE lines (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number            text        NOT NULL UNIQUE CHECK (number ~ '^\+[1-9][0-9]{6,14}$'),
    linq_id           text UNIQUE,
    reputation        text        NOT NULL DEFAULT 'HEALTHY'
                      CHECK (reputation IN ('HEALTHY', 'AT_RISK', 'CRITICAL')),
    service_status    text        NOT NULL DEFAULT 'ACTIVE' CHECK (service_status IN ('ACTIVE', 'FLAGGED')),
    -- Set when Linq answered 403/2027 (line ineligible); cleared when the line is seen active again.
    ineligible_at     timestamptz,
    admin_state       text        NOT NULL DEFAULT 'active'
                      CHECK (admin_state IN ('active', 'draining', 'retired')),
    budget_override   integer CHECK (budget_override IS NULL OR budget_override > 0),
    -- Warm-up starts when the line first appears in the pool.
    warmup_started_at timestamptz NOT NULL DEFAULT now(),
    user_count        integer     NOT NULL DEFAULT 0 CHECK (user_count >= 0),
    last_assigned_at  timestamptz,
    status_changed_at timestamptz NOT NULL DEFAULT now(),
    synced_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Product users and the line they currently talk on.
CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_ref        text        NOT NULL UNIQUE CHECK (length(user_ref) BETWEEN 1 AND 200),
    handle          text,
    display_name    text,
    code            text        NOT NULL UNIQUE,
    home_line_id    bigint      NOT NULL REFERENCES lines (id),
    current_line_id bigint      NOT NULL REFERENCES lines (id),
    opted_out_at    timestamptz,
    opt_out_source  text,
    last_inbound_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_handle_key ON users (handle) WHERE handle IS NOT NULL;
CREATE INDEX users_current_line_idx ON users (current_line_id);

-- A user's ordered line set: position 0 is the home line, then the backups.
CREATE TABLE user_lines (
    user_id  bigint   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position smallint NOT NULL CHECK (position >= 0),
    line_id  bigint   NOT NULL REFERENCES lines (id),
    PRIMARY KEY (user_id, position),
    UNIQUE (user_id, line_id)
);
CREATE INDEX user_lines_line_idx ON user_lines (line_id);

-- Every change of a user's line set or current line, with its reason.
CREATE TABLE line_ledger (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason       text        NOT NULL CHECK (reason IN ('signup', 'import', 'ops', 'failover', 'recovery', 'retire')),
    from_line_id bigint REFERENCES lines (id),
    to_line_id   bigint      NOT NULL REFERENCES lines (id),
    line_set     bigint[]    NOT NULL,
    note         text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX line_ledger_user_idx ON line_ledger (user_id, created_at);

-- +goose Down
DROP TABLE line_ledger;
DROP TABLE user_lines;
DROP TABLE users;
DROP TABLE lines;
