-- Reserved for form submissions (forms issue); filled in by that issue.
SELECT 1;
