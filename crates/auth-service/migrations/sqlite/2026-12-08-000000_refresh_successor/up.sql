-- A rotated refresh token keeps its successor sealed under a key only the rotated token's value
-- derives (HMAC-SHA-256 of the value), so a retry inside the grace window gets the very same
-- successor back instead of forking the family (RFC 9700 §4.14.2). Hex, 64 characters.
ALTER TABLE refresh_tokens ADD COLUMN successor_sealed VARCHAR(64);
