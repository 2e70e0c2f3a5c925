-- A rotated refresh token keeps its successor sealed (AES-256-GCM) under a key only the rotated
-- token's value derives (HMAC-SHA-256 of the value), so a retry inside the grace window gets the
-- very same successor back instead of forking the family (RFC 9700 §4.14.2). base64url of
-- nonce (12 bytes) + ciphertext (32) + tag (16): 80 characters.
ALTER TABLE refresh_tokens ADD COLUMN successor_sealed VARCHAR(80);
