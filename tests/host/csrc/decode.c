/*
 * Decodes a buffer the way flb_log_event_decoder_next does (5.1.1) and
 * renders each record as one JSON line.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flbhost.h"

/* Decoder failure: err holds the reason. */
#define DECODE_FAIL (-1)

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
    return DECODE_FAIL;
}

/* Releases the memory of b and empties it. */
void json_buffer_free(struct json_buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

static int put(struct json_buffer *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;

        while (b->len + n + 1 > cap) {
            cap *= 2;
        }
        p = realloc(b->data, cap);
        if (p == NULL) {
            return -1;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int puts_json(struct json_buffer *b, const char *s)
{
    return put(b, s, strlen(s));
}

static int putf(struct json_buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int putf(struct json_buffer *b, const char *fmt, ...)
{
    char tmp[64];
    va_list args;
    int n;

    va_start(args, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        return -1;
    }
    return put(b, tmp, (size_t)n);
}

/* Returns the length of the UTF-8 sequence at s, or 0 if it is invalid (RFC 3629). */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len;

    if (s[0] < 0x80) {
        return 1;
    } else if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* Reject overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

/* Writes s as a JSON string (RFC 8259 section 7); valid UTF-8 passes through. */
static int put_string(struct json_buffer *b, const char *s, size_t n, char *err, size_t errlen)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    if (put(b, "\"", 1) != 0) {
        return fail(err, errlen, "out of memory");
    }
    while (i < n) {
        size_t len = utf8_sequence(u + i, n - i);
        int rc = 0;

        if (len == 0) {
            return fail(err, errlen, "string contains invalid UTF-8 at byte %zu (0x%02x)", i,
                        u[i]);
        }
        if (len > 1) {
            rc = put(b, s + i, len);
        } else if (u[i] == '"') {
            rc = put(b, "\\\"", 2);
        } else if (u[i] == '\\') {
            rc = put(b, "\\\\", 2);
        } else if (u[i] == '\n') {
            rc = put(b, "\\n", 2);
        } else if (u[i] == '\r') {
            rc = put(b, "\\r", 2);
        } else if (u[i] == '\t') {
            rc = put(b, "\\t", 2);
        } else if (u[i] == '\b') {
            rc = put(b, "\\b", 2);
        } else if (u[i] == '\f') {
            rc = put(b, "\\f", 2);
        } else if (u[i] < 0x20) {
            rc = putf(b, "\\u%04x", u[i]);
        } else {
            rc = put(b, s + i, 1);
        }
        if (rc != 0) {
            return fail(err, errlen, "out of memory");
        }
        i += len;
    }
    if (put(b, "\"", 1) != 0) {
        return fail(err, errlen, "out of memory");
    }
    return 0;
}

static int put_object(struct json_buffer *b, const msgpack_object *o, char *err, size_t errlen);

static int put_map(struct json_buffer *b, const msgpack_object_map *m, char *err, size_t errlen)
{
    if (put(b, "{", 1) != 0) {
        return fail(err, errlen, "out of memory");
    }
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *key = &m->ptr[i].key;

        if (i > 0 && put(b, ",", 1) != 0) {
            return fail(err, errlen, "out of memory");
        }
        if (key->type != MSGPACK_OBJECT_STR) {
            return fail(err, errlen, "map key %u has msgpack type %d; keys must be strings", i,
                        (int)key->type);
        }
        if (put_string(b, key->via.str.ptr, key->via.str.size, err, errlen) != 0) {
            return DECODE_FAIL;
        }
        if (put(b, ":", 1) != 0) {
            return fail(err, errlen, "out of memory");
        }
        if (put_object(b, &m->ptr[i].val, err, errlen) != 0) {
            return DECODE_FAIL;
        }
    }
    if (put(b, "}", 1) != 0) {
        return fail(err, errlen, "out of memory");
    }
    return 0;
}

static int put_object(struct json_buffer *b, const msgpack_object *o, char *err, size_t errlen)
{
    int rc = 0;

    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        rc = puts_json(b, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        rc = puts_json(b, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        rc = putf(b, "%" PRIu64, o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        rc = putf(b, "%" PRId64, o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64)) {
            return fail(err, errlen, "float %g has no JSON representation", o->via.f64);
        }
        rc = putf(b, "%.17g", o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        return put_string(b, o->via.str.ptr, o->via.str.size, err, errlen);
    case MSGPACK_OBJECT_ARRAY:
        if (put(b, "[", 1) != 0) {
            return fail(err, errlen, "out of memory");
        }
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i > 0 && put(b, ",", 1) != 0) {
                return fail(err, errlen, "out of memory");
            }
            if (put_object(b, &o->via.array.ptr[i], err, errlen) != 0) {
                return DECODE_FAIL;
            }
        }
        rc = put(b, "]", 1);
        break;
    case MSGPACK_OBJECT_MAP:
        return put_map(b, &o->via.map, err, errlen);
    case MSGPACK_OBJECT_BIN:
        return fail(err, errlen, "bin value of %u bytes in a record; emit strings instead",
                    o->via.bin.size);
    case MSGPACK_OBJECT_EXT:
        return fail(err, errlen, "ext type %d value in a record; emit strings instead",
                    (int)o->via.ext.type);
    default:
        return fail(err, errlen, "unknown msgpack type %d", (int)o->type);
    }
    if (rc != 0) {
        return fail(err, errlen, "out of memory");
    }
    return 0;
}

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    return ((uint32_t)u[0] << 24) | ((uint32_t)u[1] << 16) | ((uint32_t)u[2] << 8) | u[3];
}

/* Converts a timestamp like flb_log_event_decoder_decode_timestamp. */
static int decode_timestamp(const msgpack_object *ts, int64_t *sec, int64_t *nsec, char *err,
                            size_t errlen)
{
    uint32_t s;
    uint32_t ns;

    switch (ts->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *sec = (int64_t)ts->via.u64;
        *nsec = 0;
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *sec = (int64_t)ts->via.f64;
        *nsec = (int64_t)((ts->via.f64 - (double)*sec) * 1000000000);
        return 0;
    case MSGPACK_OBJECT_EXT:
        if (ts->via.ext.type != 0 || ts->via.ext.size != 8) {
            return fail(err, errlen,
                        "timestamp is ext type %d with %u bytes; EventTime is ext type 0 "
                        "with exactly 8 bytes",
                        (int)ts->via.ext.type, ts->via.ext.size);
        }
        s = be32(ts->via.ext.ptr);
        ns = be32(ts->via.ext.ptr + 4);
        /* 0xFFFFFFFF and 0xFFFFFFFE seconds mark group start and end records. */
        if (s >= UINT32_MAX - 1) {
            return fail(err, errlen,
                        "timestamp seconds 0x%08" PRIx32 " is a group marker; a Go input "
                        "cannot emit groups",
                        s);
        }
        *sec = s;
        *nsec = ns;
        return 0;
    default:
        return fail(err, errlen,
                    "timestamp has msgpack type %d; use a positive integer, a float or "
                    "EventTime (ext type 0)",
                    (int)ts->type);
    }
}

/* Renders one decoded record; root is the record's 2-element array. */
static int put_record(struct json_buffer *b, const struct host_instance *ins,
                      const msgpack_object *root, char *err, size_t errlen)
{
    const msgpack_object *header = &root->via.array.ptr[0];
    const msgpack_object *body = &root->via.array.ptr[1];
    const msgpack_object *ts = header;
    const msgpack_object *meta = NULL;
    int64_t sec = 0;
    int64_t nsec = 0;

    if (header->type == MSGPACK_OBJECT_ARRAY) {
        if (header->via.array.size != 2) {
            return fail(err, errlen, "header array has %u elements; expected [time, metadata]",
                        header->via.array.size);
        }
        ts = &header->via.array.ptr[0];
        meta = &header->via.array.ptr[1];
        if (meta->type != MSGPACK_OBJECT_MAP) {
            return fail(err, errlen, "metadata has msgpack type %d; expected a map",
                        (int)meta->type);
        }
    }
    if (body->type != MSGPACK_OBJECT_MAP) {
        return fail(err, errlen, "body has msgpack type %d; expected a map", (int)body->type);
    }
    if (decode_timestamp(ts, &sec, &nsec, err, errlen) != 0) {
        return DECODE_FAIL;
    }

    if (puts_json(b, "{\"instance\":") != 0 ||
        put_string(b, ins->spec->name, strlen(ins->spec->name), err, errlen) != 0 ||
        puts_json(b, ",\"tag\":") != 0 ||
        put_string(b, ins->spec->tag, strlen(ins->spec->tag), err, errlen) != 0 ||
        putf(b, ",\"time\":{\"sec\":%" PRId64 ",\"nsec\":%" PRId64 "}", sec, nsec) != 0 ||
        puts_json(b, ",\"metadata\":") != 0) {
        return fail(err, errlen, "out of memory");
    }
    if (meta == NULL) {
        if (puts_json(b, "null") != 0) {
            return fail(err, errlen, "out of memory");
        }
    } else if (put_map(b, &meta->via.map, err, errlen) != 0) {
        return DECODE_FAIL;
    }
    if (puts_json(b, ",\"record\":") != 0) {
        return fail(err, errlen, "out of memory");
    }
    if (put_map(b, &body->via.map, err, errlen) != 0) {
        return DECODE_FAIL;
    }
    if (puts_json(b, "}\n") != 0) {
        return fail(err, errlen, "out of memory");
    }
    return 0;
}

/*
 * Decodes every record in data into JSON lines appended to out. On failure
 * it returns -1 with the reason in err, and out must be discarded.
 */
int decode_buffer(const struct host_instance *ins, const char *data, size_t len,
                  struct json_buffer *out, size_t *records, char *err, size_t errlen)
{
    msgpack_unpacked unpacked;
    size_t offset = 0;
    int rc = 0;

    *records = 0;
    msgpack_unpacked_init(&unpacked);
    while (offset < len) {
        size_t start = offset;
        msgpack_unpack_return ret = msgpack_unpack_next(&unpacked, data, len, &offset);
        const msgpack_object *root = &unpacked.data;
        char why[512];

        if (ret == MSGPACK_UNPACK_CONTINUE) {
            rc = fail(err, errlen, "record %zu at byte %zu is truncated (buffer has %zu bytes)",
                      *records, start, len);
            break;
        }
        if (ret != MSGPACK_UNPACK_SUCCESS) {
            rc = fail(err, errlen, "record %zu at byte %zu is not valid msgpack (code %d)",
                      *records, start, (int)ret);
            break;
        }
        if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size != 2) {
            rc = fail(err, errlen,
                      "record %zu at byte %zu is not a 2-element array (msgpack type %d)",
                      *records, start, (int)root->type);
            break;
        }
        if (put_record(out, ins, root, why, sizeof(why)) != 0) {
            rc = fail(err, errlen, "record %zu at byte %zu: %s", *records, start, why);
            break;
        }
        (*records)++;
    }
    msgpack_unpacked_destroy(&unpacked);
    return rc;
}
