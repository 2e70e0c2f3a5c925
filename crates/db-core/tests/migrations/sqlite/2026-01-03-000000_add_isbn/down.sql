DROP INDEX idx_books_isbn;
ALTER TABLE books DROP COLUMN isbn;
