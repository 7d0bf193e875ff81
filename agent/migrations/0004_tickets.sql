-- Reserved for tickets (tickets issue); filled in by that issue.
SELECT 1;
