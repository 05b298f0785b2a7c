-- Whether a schedule fires more often than the operator's "frequent" interval (computed from its cron
-- expression at creation; the expression never changes): an agent holds only a few such schedules.
ALTER TABLE scheduler.schedules ADD COLUMN frequent boolean NOT NULL DEFAULT false;
