-- Clarification questions and amendments (issue 28).
--
-- An auction's acceptance criteria get a field of their own, so an amendment can change
-- them apart from the description. Questions are asked by vendors and answered by the
-- department's buyers; who asked is kept here and shown only to the department's buyers and
-- admins. An amendment keeps the text it replaced, so every earlier version stays readable.
ALTER TABLE auctions ADD COLUMN acceptance text NOT NULL DEFAULT '';

CREATE TABLE auction_questions (
    id           bigserial PRIMARY KEY,
    auction_id   bigint NOT NULL REFERENCES auctions (id),
    asked_by     bigint NOT NULL REFERENCES users (id),
    question     text NOT NULL,
    asked_at     timestamptz NOT NULL DEFAULT now(),
    answer       text,
    answered_by  bigint REFERENCES users (id),
    answered_at  timestamptz,
    CONSTRAINT auction_questions_question_check CHECK (length(question) BETWEEN 1 AND 4000),
    CONSTRAINT auction_questions_answer_check CHECK (
        (answer IS NULL) = (answered_at IS NULL) AND (answer IS NULL) = (answered_by IS NULL)
        AND (answer IS NULL OR length(answer) BETWEEN 1 AND 4000))
);
CREATE INDEX auction_questions_auction_idx ON auction_questions (auction_id, id);
CREATE INDEX auction_questions_unanswered_idx ON auction_questions (auction_id, id)
    WHERE answered_at IS NULL;

CREATE TABLE auction_amendments (
    id                    bigserial PRIMARY KEY,
    auction_id            bigint NOT NULL REFERENCES auctions (id),
    amended_by            bigint NOT NULL REFERENCES users (id),
    reason                text NOT NULL,
    -- Each changed text and the one it replaced; both null when that text was not changed.
    description           text,
    previous_description  text,
    acceptance            text,
    previous_acceptance   text,
    ends_at               timestamptz NOT NULL,
    previous_ends_at      timestamptz NOT NULL,
    amended_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT auction_amendments_changes_check CHECK (
        description IS NOT NULL OR acceptance IS NOT NULL)
);
CREATE INDEX auction_amendments_auction_idx ON auction_amendments (auction_id, id);

-- Amendments are the record of what bidders were told: never rewritten.
CREATE FUNCTION auction_amendments_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'auction_amendments is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER auction_amendments_append_only BEFORE UPDATE OR DELETE ON auction_amendments
    FOR EACH ROW EXECUTE FUNCTION auction_amendments_append_only();
