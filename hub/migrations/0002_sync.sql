-- Reserved for sync extras (sync issue); filled in by that issue.
SELECT 1;
