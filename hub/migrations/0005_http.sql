-- Reserved for webhooks and HTTP (hub HTTP issue); filled in by that issue.
SELECT 1;
