CREATE TABLE books (
    id          INTEGER PRIMARY KEY,
    author_id   BIGINT NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    price       DOUBLE PRECISION
);
CREATE INDEX idx_books_author ON books (author_id, title);
