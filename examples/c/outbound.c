/*
 * mailgate from C: run one outbound mail through the gateway.
 *
 *   outbound CONFIG.toml FROM TO OUTDIR < mail.eml
 *
 * Prints the result JSON (dispositions and audit record) to standard output
 * and writes every message and notification buffer to OUTDIR/buffer-N.eml,
 * N being the index the JSON uses. Exit 0 when processed, 1 on error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailgate.h"

static unsigned char *read_all(FILE *in, size_t *len) {
    size_t cap = 1 << 16, used = 0;
    unsigned char *data = malloc(cap);
    if (!data) return NULL;
    for (;;) {
        size_t n = fread(data + used, 1, cap - used, in);
        used += n;
        if (used < cap) break;
        unsigned char *bigger = realloc(data, cap * 2);
        if (!bigger) { free(data); return NULL; }
        data = bigger;
        cap *= 2;
    }
    *len = used;
    return data;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s CONFIG.toml FROM TO OUTDIR < mail.eml\n", argv[0]);
        return 1;
    }
    size_t message_len = 0;
    unsigned char *message = read_all(stdin, &message_len);
    if (!message) { fprintf(stderr, "out of memory\n"); return 1; }

    mailgate_gateway gateway;
    if (mailgate_open(argv[1], &gateway) != MAILGATE_STATUS_OK) {
        fprintf(stderr, "mailgate_open: %s\n", mailgate_last_error());
        free(message);
        return 1;
    }

    /* Addresses go into JSON: a real application escapes them properly. */
    char envelope[1024];
    snprintf(envelope, sizeof envelope,
             "{\"direction\":\"outbound\",\"from\":\"%s\",\"to\":[\"%s\"]}", argv[2], argv[3]);
    mailgate_result result;
    mailgate_status status = mailgate_process(gateway, envelope, message, message_len, &result);
    free(message);
    if (status != MAILGATE_STATUS_OK) {
        fprintf(stderr, "mailgate_process: %s\n", mailgate_last_error());
        mailgate_close(gateway);
        return 1;
    }

    puts(mailgate_result_json(result));
    for (size_t i = 0; i < mailgate_result_buffer_count(result); i++) {
        size_t len = 0;
        const uint8_t *buffer = mailgate_result_buffer(result, i, &len);
        char path[4096];
        snprintf(path, sizeof path, "%s/buffer-%zu.eml", argv[4], i);
        FILE *out = fopen(path, "wb");
        if (!buffer || !out || fwrite(buffer, 1, len, out) != len || fclose(out) != 0) {
            fprintf(stderr, "cannot write %s\n", path);
            mailgate_result_free(result);
            mailgate_close(gateway);
            return 1;
        }
    }
    /* Zeroizes the buffers (the mail) before releasing them. */
    mailgate_result_free(result);

    /* Handles are checked: a second free or close is an error, not a crash. */
    if (mailgate_result_free(result) != MAILGATE_STATUS_INVALID_HANDLE
        || mailgate_result_json(result) != NULL
        || mailgate_close(gateway) != MAILGATE_STATUS_OK
        || mailgate_close(gateway) != MAILGATE_STATUS_INVALID_HANDLE) {
        fprintf(stderr, "a stale handle was not refused\n");
        return 1;
    }
    return 0;
}
