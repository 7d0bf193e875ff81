/* fuzz_multipart.c - multipart/form-data bodies of the store API's form
 * submissions with photos (SPEC 15). The first line of the input is the
 * boundary, the rest the body. Invariants: no crash or overread (ASan), at
 * most AGENT_MULTIPART_PARTS_MAX parts, every part lies inside the body and
 * has an identifier name, and no name appears twice. */
#include "agent_multipart.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t blen = nl ? (size_t)(nl - data) : 0;
  if (!nl || blen > 100)
    return 0;
  char ctype[160];
  snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%.*s", (int)blen,
           (const char *)data);
  /* A heap copy of exactly the body: ASan sees any read past its end. */
  size_t len = size - blen - 1;
  char *body = malloc(len ? len : 1);
  if (!body)
    return 0;
  memcpy(body, nl + 1, len);
  struct agent_multipart_part parts[AGENT_MULTIPART_PARTS_MAX];
  size_t n = 0;
  shoal_diag d;
  if (agent_multipart_parse(ctype, body, len, parts, &n, &d) == SHOAL_OK) {
    if (n > AGENT_MULTIPART_PARTS_MAX)
      abort();
    for (size_t i = 0; i < n; i++) {
      if (parts[i].data < body || parts[i].data + parts[i].len > body + len ||
          !shoal_id_valid(parts[i].name))
        abort();
      for (size_t j = 0; j < i; j++)
        if (strcmp(parts[i].name, parts[j].name) == 0)
          abort();
    }
  }
  free(body);
  return 0;
}
