-- Reserved for sales (pricing issue); filled in by that issue.
SELECT 1;
