ALTER TABLE books ADD COLUMN isbn VARCHAR(20);
CREATE UNIQUE INDEX idx_books_isbn ON books (isbn);
