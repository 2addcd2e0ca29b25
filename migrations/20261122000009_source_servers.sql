-- The server a connection's source lives on (`postgresql://host:port`,
-- `sqlite:path`), so that workers can cap how many refreshes read one server
-- at once, whichever connections and organizations they belong to. Written by
-- the API with the configuration; rows from before are filled in by their
-- next refresh (until then their refreshes are not capped).
ALTER TABLE connections ADD COLUMN source_server text;
