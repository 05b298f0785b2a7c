-- Contact-form submissions (the operator's inbox). emailed_at stays NULL until the mailer delivered it.
CREATE TABLE sla.contact_submissions (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    email         text NOT NULL,
    subject       text NOT NULL,
    message       text NOT NULL,
    client_addr   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    emailed_at    timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    next_try_at   timestamptz NOT NULL DEFAULT now(),
    last_error    text
);
CREATE INDEX contact_unsent ON sla.contact_submissions (next_try_at) WHERE emailed_at IS NULL;
