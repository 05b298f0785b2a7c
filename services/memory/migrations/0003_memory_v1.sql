-- MoltGrid 1.0 memory features over memory.entries: versions (compare-and-set), visibility, bounded history,
-- and a log of cross-agent reads. Values in memory.history are the entry's stored value (Fernet ciphertext
-- when encryption is on), copied by the trigger below, so every write path records history the same way.
ALTER TABLE memory.entries
    ADD COLUMN version       bigint NOT NULL DEFAULT 1,
    ADD COLUMN visibility    text   NOT NULL DEFAULT 'private'
        CHECK (visibility IN ('private', 'public', 'shared')),
    ADD COLUMN shared_agents text[] NOT NULL DEFAULT '{}';

CREATE TABLE memory.history (
    agent_id   text        NOT NULL,
    namespace  text        NOT NULL,
    key        text        NOT NULL,
    version    bigint      NOT NULL,
    value      text        NOT NULL,
    changed_by text        NOT NULL,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (agent_id, namespace, key, version)
);

-- Record each new value; a version 1 starts a new life of the key (first write, or a write after expiry), so
-- the previous life's history goes. At most 50 versions are kept per key.
CREATE FUNCTION memory.record_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.version = OLD.version THEN
        RETURN NEW;  -- a metadata change (visibility), not a new value
    END IF;
    IF NEW.version = 1 THEN
        DELETE FROM memory.history WHERE agent_id = NEW.agent_id AND namespace = NEW.namespace AND key = NEW.key;
    END IF;
    INSERT INTO memory.history (agent_id, namespace, key, version, value, changed_by, changed_at)
    VALUES (NEW.agent_id, NEW.namespace, NEW.key, NEW.version, NEW.value, NEW.agent_id, NEW.updated_at)
    ON CONFLICT (agent_id, namespace, key, version) DO UPDATE SET value = EXCLUDED.value,
        changed_at = EXCLUDED.changed_at;
    DELETE FROM memory.history WHERE agent_id = NEW.agent_id AND namespace = NEW.namespace AND key = NEW.key
        AND version <= NEW.version - 50;
    RETURN NEW;
END $$;

CREATE TRIGGER entries_history AFTER INSERT OR UPDATE ON memory.entries
    FOR EACH ROW EXECUTE FUNCTION memory.record_history();

-- A deleted entry (DELETE, expiry sweep, agent purge) takes its history with it.
CREATE FUNCTION memory.forget_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM memory.history WHERE agent_id = OLD.agent_id AND namespace = OLD.namespace AND key = OLD.key;
    RETURN OLD;
END $$;

CREATE TRIGGER entries_forget_history AFTER DELETE ON memory.entries
    FOR EACH ROW EXECUTE FUNCTION memory.forget_history();

-- Who read which of an owner's entries through GET /v1/agents/{id}/memory/{key} (granted or refused).
CREATE TABLE memory.access_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_agent text        NOT NULL,
    reader      text        NOT NULL,
    namespace   text        NOT NULL,
    key         text        NOT NULL,
    granted     boolean     NOT NULL,
    read_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX access_log_owner ON memory.access_log (owner_agent, id DESC);
CREATE INDEX access_log_reader ON memory.access_log (reader);
CREATE INDEX access_log_age ON memory.access_log (read_at);
