-- Attribution (DESIGN §8): who issued each API token. NULL for tokens issued before this
-- column existed and for those a user issued themselves; otherwise the user whose request
-- made it (an admin minting a token for someone, DESIGN §10 POST /api/users/{id}/tokens).
-- Audit rows made with such a token carry its id and issued_by (audit/record.py).
ALTER TABLE api_tokens ADD COLUMN issued_by bigint REFERENCES users (id);
