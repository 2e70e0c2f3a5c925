CREATE TABLE authors (
    id          INTEGER PRIMARY KEY,
    name        VARCHAR(100) NOT NULL UNIQUE,
    active      BOOLEAN NOT NULL DEFAULT 1,
    born_at     TIMESTAMP,
    meta        TEXT
);
