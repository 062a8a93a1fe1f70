"""What a user can do: opt-outs and reversals, enrollments, reply handling, CRM sync."""
