/* shoal_limits.h - every bound Shoal enforces, in one place.
 * Anything read from outside (files, MQTT, HTTP) is checked against one of
 * these before it is parsed or stored. Change a bound here, nowhere else. */
#ifndef SHOAL_LIMITS_H
#define SHOAL_LIMITS_H

#define SHOAL_ID_MAX                    64 /* identifiers: device, store, rule ... */
#define SHOAL_SCOPE_MAX                 (SHOAL_ID_MAX + 16) /* a policy scope: "region/" + id + NUL fits */
#define SHOAL_U64_TEXT_MAX              24 /* a 64-bit unsigned integer in decimal, NUL included */
#define SHOAL_PATH_MAX                  1024 /* file paths in configs */
#define SHOAL_FS_PATH_MAX               4096 /* a path built from a configured one (Linux PATH_MAX) */
#define SHOAL_TOPIC_MAX                 256                /* full MQTT topic */
#define SHOAL_CONFIG_MAX_BYTES          (256 * 1024)       /* a config file */
#define SHOAL_PROFILE_MAX_BYTES         (64 * 1024)        /* a firmware profile */
#define SHOAL_POLICY_DOC_MAX_BYTES      (8 * 1024 * 1024)  /* one policy document */
#define SHOAL_POLICY_ENVELOPE_MAX_BYTES (12 * 1024 * 1024) /* doc + signature, base64 etc. */
#define SHOAL_EVENT_MAX_BYTES           (256 * 1024)       /* one up/down event envelope */
/* One ack: {"epoch":"<20 digits>","upto":<19 digits>}, with room. */
#define SHOAL_ACK_MAX_BYTES       1024
#define SHOAL_PRESENCE_MAX_BYTES  4096 /* one presence message */
#define SHOAL_JSON_MAX_DEPTH      1000 /* nesting shoal_json_skip_value follows (cJSON's own limit) */
#define SHOAL_BASKET_MAX_BYTES    (1024 * 1024)
#define SHOAL_BASKET_MAX_LINES    1000
#define SHOAL_LINE_MAX_QTY        1000000
#define SHOAL_BASKET_MAX_COUPONS  100 /* coupon codes presented with one basket */
#define SHOAL_FORM_DATA_MAX_BYTES (1024 * 1024)
#define SHOAL_EXPR_MAX_BYTES      4096               /* one expression's source text */
#define SHOAL_EXPR_MAX_NODES      2048               /* AST nodes of one expression */
#define SHOAL_EXPR_MAX_DEPTH      64                 /* nesting of one expression */
#define SHOAL_EXPR_EVAL_MAX_BYTES (1024 * 1024)      /* memory one evaluation may use */
#define SHOAL_FORMS_MAX           256                /* forms in one policy document */
#define SHOAL_FORM_FIELDS_MAX     256                /* fields in one form */
#define SHOAL_FORM_CHOICES_MAX    1000               /* choices of one field */
#define SHOAL_FORM_ON_SUBMIT_MAX  32                 /* on_submit entries of one form */
#define SHOAL_INPUT_MAX_BYTES     (16 * 1024 * 1024) /* any other file read whole */
#define SHOAL_MONEY_MAX                                                                            \
  1000000000000000LL /* 10^15 minor units; sums stay far from int64 overflow */
#define SHOAL_HTTP_BODY_MAX_BYTES  (8 * 1024 * 1024)
#define SHOAL_OUTBOX_BATCH_MAX     1000
#define SHOAL_OUTBOX_EVENTS_MAX    100000000  /* profile outbox.max_events */
#define SHOAL_PROFILE_MB_MAX       (1 << 20)  /* profile cache.max_mb and media.max_mb */
#define SHOAL_RULE_PRIORITY_MAX    1000000000 /* |priority| of a pricing rule */
#define SHOAL_REDEEM_VALUE_MAX     1000000    /* loyalty.redeem_value: minor units per point */
#define SHOAL_SYNC_RESEND_MS       5000 /* agent resends its window when no ack advanced this long */
#define SHOAL_SYNC_RESEND_MAX_MS   60000 /* ... doubling up to this while the hub stays silent */
#define SHOAL_WEBHOOKS_MAX         16
#define SHOAL_USERS_MAX            32 /* hub config "users" */
#define SHOAL_TICKET_EVENTS_MAX    100000
#define SHOAL_TICKET_KIND_MAX      16     /* a ticket event kind, NUL included */
#define SHOAL_TICKET_WORD_MAX      16     /* a ticket state or priority name, NUL included */
#define SHOAL_TICKET_TEXT_MAX      4096   /* title, category, note text */
#define SHOAL_TICKET_MINUTES_MAX   100000 /* one labour entry */
#define SHOAL_TICKET_ESC_STEPS_MAX 32     /* escalation ladder */
#define SHOAL_TICKET_ROUTING_MAX   1000   /* routing rules per document */
#define SHOAL_SERVES_MAX           32     /* stores one device serves (agent config "serves") */
#define SHOAL_SLA_HOLIDAYS_MAX     1000   /* sla.calendar.holidays entries */
#define SHOAL_MEDIA_MAX_BYTES      (64LL * 1024 * 1024) /* one photo, whatever media.max_mb allows */
#define SHOAL_MEDIA_TYPE_MAX       100                  /* a photo's MIME type */
#define SHOAL_STORE_API_UPLOAD_MAX                                                                 \
  (16 * 1024 * 1024)              /* a store API multipart submission with photos */
#define SHOAL_MEDIA_ATTACH_MAX 16 /* --attach / multipart files per submission */

/* The agent's store API server (shared/httpd.c). The hub's HTTP server has its
 * own limits in hub/hub_http.h (per-address 32, watchdog, probe slots). */
#define SHOAL_HTTPD_PARAMS_MAX      4    /* {param} segments in one route pattern */
#define SHOAL_HTTPD_HEADER_MAX      256  /* one response header value we set */
#define SHOAL_HTTPD_THREADS         4    /* worker threads (each its own DB handle) */
#define SHOAL_HTTPD_CONN_MAX        512  /* concurrent connections, all clients */
#define SHOAL_HTTPD_PER_IP_MAX      256  /* concurrent connections from one address (TCP) */
#define SHOAL_HTTPD_PROBE_RESERVE   8    /* slots past CONN_MAX that only serve probes */
#define SHOAL_HTTPD_PROBE_MAX_MS    2000 /* whole life of a connection on a probe slot */
#define SHOAL_HTTPD_REQUEST_MAX_S   10   /* total time of one request, bytes or not */
#define SHOAL_HTTPD_IDLE_MAX_S      15   /* keep-alive connection idle */
#define SHOAL_HTTPD_DRAIN_MAX       (16 * 1024 * 1024) /* refused body read and dropped, then cut */
#define SHOAL_HTTPD_CONN_MEMORY     (64 * 1024) /* per-connection buffer (request line + headers) */
#define SHOAL_HTTPD_SSE_SUBS_MAX    32          /* Server-Sent Event subscribers per channel */
#define SHOAL_HTTPD_SSE_PER_IP_MAX  8           /* of those, from one client address (TCP) */
#define SHOAL_HTTPD_SSE_BUF_MAX     (64 * 1024) /* bytes one subscriber may lag, then cut off */
#define SHOAL_HTTPD_SSE_PING_S      15          /* keep-alive comment on idle event streams */
#define SHOAL_HTTPD_TOKEN_MAX_BYTES 4096        /* a bearer token file */
#define SHOAL_SECRET_FILE_MAX_BYTES 4096        /* a password file (mqtt.password_file) */
#define SHOAL_KEY_FILE_MAX_BYTES    (16 * 1024) /* a PEM public key file */
#define SHOAL_KEY_PEM_MAX           4096        /* a generated P-256 key in PEM, NUL included */
#define SHOAL_STORE_API_BODY_MAX    (SHOAL_BASKET_MAX_BYTES) /* store API request bodies */

/* Customers, loyalty and e-commerce orders (SPEC 13) */
#define SHOAL_MEMBER_TAGS_MAX      16              /* tags of one customer (and in a member code) */
#define SHOAL_MEMBER_NONCE_MAX     32              /* a member code's nonce (base64url) */
#define SHOAL_MEMBER_CODE_MAX      1024            /* one member code, whole */
#define SHOAL_POINTS_MAX           1000000000000LL /* 10^12 points: points x money stays in 128 bits */
#define SHOAL_CUSTOMER_TEXT_MAX    256             /* a customer's name or phone, bytes */
#define SHOAL_ORDER_BODY_MAX       (256 * 1024)    /* one POST /api/v1/orders body */
#define SHOAL_ORDER_BATCH_MAX      256 /* orders in one group commit (hub config orders.batch_max) */
#define SHOAL_CUSTOMER_HISTORY_MAX 50  /* purchases a ticket carries (customer_history) */
#define SHOAL_TIMELINE_MAX         500 /* entries of a customer's timeline */

#endif
