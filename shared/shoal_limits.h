/* shoal_limits.h - every bound Shoal enforces, in one place.
 * Anything read from outside (files, MQTT, HTTP) is checked against one of
 * these before it is parsed or stored. Change a bound here, nowhere else. */
#ifndef SHOAL_LIMITS_H
#define SHOAL_LIMITS_H

#define SHOAL_ID_MAX 64                     /* identifiers: device, store, rule ... */
#define SHOAL_PATH_MAX 1024                 /* file paths in configs */
#define SHOAL_TOPIC_MAX 256                 /* full MQTT topic */
#define SHOAL_CONFIG_MAX_BYTES (256 * 1024) /* a config file */
#define SHOAL_PROFILE_MAX_BYTES (64 * 1024) /* a firmware profile */
#define SHOAL_POLICY_DOC_MAX_BYTES (8 * 1024 * 1024)       /* one policy document */
#define SHOAL_POLICY_ENVELOPE_MAX_BYTES (12 * 1024 * 1024) /* doc + signature, base64 etc. */
#define SHOAL_EVENT_MAX_BYTES (256 * 1024)  /* one up/down event envelope */
#define SHOAL_BASKET_MAX_BYTES (1024 * 1024)
#define SHOAL_BASKET_MAX_LINES 1000
#define SHOAL_LINE_MAX_QTY 1000000
#define SHOAL_BASKET_MAX_COUPONS 100        /* coupon codes presented with one basket */
#define SHOAL_FORM_DATA_MAX_BYTES (1024 * 1024)
#define SHOAL_EXPR_MAX_BYTES 4096           /* one expression's source text */
#define SHOAL_EXPR_MAX_NODES 2048           /* AST nodes of one expression */
#define SHOAL_EXPR_MAX_DEPTH 64             /* nesting of one expression */
#define SHOAL_EXPR_EVAL_MAX_BYTES (1024 * 1024) /* memory one evaluation may use */
#define SHOAL_FORMS_MAX 256                 /* forms in one policy document */
#define SHOAL_FORM_FIELDS_MAX 256           /* fields in one form */
#define SHOAL_FORM_CHOICES_MAX 1000         /* choices of one field */
#define SHOAL_FORM_ON_SUBMIT_MAX 32         /* on_submit entries of one form */
#define SHOAL_INPUT_MAX_BYTES (16 * 1024 * 1024) /* any other file read whole */
#define SHOAL_MONEY_MAX 1000000000000000LL      /* 10^15 minor units; sums stay far from int64 overflow */
#define SHOAL_HTTP_BODY_MAX_BYTES (8 * 1024 * 1024)
#define SHOAL_OUTBOX_BATCH_MAX 1000
#define SHOAL_SYNC_RESEND_MS 5000             /* agent resends its window when no ack advanced this long */
#define SHOAL_SYNC_RESEND_MAX_MS 60000        /* ... doubling up to this while the hub stays silent */
#define SHOAL_WEBHOOKS_MAX 16
#define SHOAL_USERS_MAX 32 /* hub config "users" */
#define SHOAL_TICKET_EVENTS_MAX 100000
#define SHOAL_TICKET_KIND_MAX 16          /* a ticket event kind, NUL included */
#define SHOAL_TICKET_TEXT_MAX 4096        /* title, category, note text */
#define SHOAL_TICKET_MINUTES_MAX 100000   /* one labour entry */
#define SHOAL_TICKET_ESC_STEPS_MAX 32     /* escalation ladder */
#define SHOAL_TICKET_ROUTING_MAX 1000     /* routing rules per document */

#endif
