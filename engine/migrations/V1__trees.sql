-- The store's trees, as on sled: every record and index entry is a key and a value in one tree.
-- Keys are compared byte by byte (bytea's order), as sled orders them, so ranges and prefixes
-- read the same on both backends.
CREATE TABLE kv (
    tree smallint NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tree, key)
);

-- Gateway events' raw payloads, which sled's backend keeps in a log file beside its trees.
CREATE TABLE payloads (
    id bigserial PRIMARY KEY,
    body bytea NOT NULL
);
