/*
 * The struct flb_api table Fluent Bit hands to Go plugins (src/flb_api.c),
 * and Fluent Bit's log line format (src/flb_log.c, 5.1.1).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "flbhost.h"

/* sizeof(struct log_message.msg) in src/flb_log.c: 4096 - sizeof(size_t). */
#define LOG_MESSAGE_SIZE (4096 - sizeof(size_t))

static pthread_mutex_t stderr_lock = PTHREAD_MUTEX_INITIALIZER;

/* Returns what flb_log_message_type_str returns, NULL for unknown levels. */
static const char *level_title(int level)
{
    switch (level) {
    case FLB_LOG_ERROR:
        return "error";
    case FLB_LOG_WARN:
        return "warn";
    case FLB_LOG_INFO:
        return "info";
    case FLB_LOG_DEBUG:
        return "debug";
    case FLB_LOG_TRACE:
        return "trace";
    case 6:
        return "help";
    case 10:
        return "debug";
    default:
        return NULL;
    }
}

static const char *level_color(int level)
{
    switch (level) {
    case FLB_LOG_ERROR:
        return "\033[91m";
    case FLB_LOG_WARN:
    case FLB_LOG_DEBUG:
        return "\033[93m";
    case FLB_LOG_INFO:
        return "\033[92m";
    case FLB_LOG_TRACE:
        return "\033[94m";
    case 6:
    case 10:
        return "\033[96m";
    default:
        return NULL;
    }
}

/*
 * Writes the header log_prepare_header writes: local time with milliseconds
 * and the level right-aligned in five columns, colored only on a terminal.
 */
static int log_header(char *buf, size_t size, int level)
{
    struct timespec now;
    struct tm tm;
    const char *color = level_color(level);
    const char *bold = "\033[1m";
    const char *reset = "\033[0m";
    const char *title = level_title(level);

    if (!isatty(STDERR_FILENO)) {
        color = "";
        bold = "";
        reset = "";
    }
    clock_gettime(CLOCK_REALTIME, &now);
    if (localtime_r(&now.tv_sec, &tm) == NULL) {
        return -1;
    }
    /* glibc prints "(null)" for a NULL %s, as Fluent Bit does for unknown levels. */
    return snprintf(buf, size, "%s[%s%i/%02i/%02i %02i:%02i:%02i.%03ld%s]%s [%s%5s%s] ",
                    bold, reset, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                    tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(now.tv_nsec / 1000000),
                    bold, reset, color ? color : "", title ? title : "(null)", reset);
}

static void log_vprint(int level, const char *fmt, va_list args)
{
    char header[256];
    char body[LOG_MESSAGE_SIZE];
    char line[LOG_MESSAGE_SIZE];
    int header_len;
    size_t body_cap;
    size_t body_len;

    header_len = log_header(header, sizeof(header), level);
    if (header_len < 0 || (size_t)header_len >= LOG_MESSAGE_SIZE - 1) {
        return;
    }

    /* flb_log_construct leaves room for the header, a newline and the NUL. */
    body_cap = (LOG_MESSAGE_SIZE - 2) - (size_t)header_len;
    if (vsnprintf(body, body_cap, fmt, args) < 0) {
        return;
    }
    body_len = strlen(body);
    if (body_len > body_cap) {
        body_len = body_cap;
    }

    memcpy(line, header, (size_t)header_len);
    memcpy(line + header_len, body, body_len);
    line[header_len + body_len] = '\n';
    line[header_len + body_len + 1] = '\0';

    pthread_mutex_lock(&stderr_lock);
    fputs(line, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&stderr_lock);
}

/* Formats and prints one log line exactly as Fluent Bit's flb_log_print does. */
void flb_log_print(int level, const char *file, int line, const char *fmt, ...)
{
    va_list args;

    (void)file;
    (void)line;
    va_start(args, fmt);
    log_vprint(level, fmt, args);
    va_end(args);
}

/* Prints one of the host's own diagnostics, prefixed "[flbhost]", to stderr. */
void host_diag(const char *fmt, ...)
{
    va_list args;

    pthread_mutex_lock(&stderr_lock);
    fputs("[flbhost] ", stderr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&stderr_lock);
}

/* Parses a level the way flb_log_get_level_str does; -1 when unknown. */
int log_level_parse(const char *text)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {
        {"off", FLB_LOG_OFF},     {"error", FLB_LOG_ERROR}, {"warn", FLB_LOG_WARN},
        {"warning", FLB_LOG_WARN}, {"info", FLB_LOG_INFO},  {"debug", FLB_LOG_DEBUG},
        {"trace", FLB_LOG_TRACE},
    };

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcasecmp(text, levels[i].name) == 0) {
            return levels[i].level;
        }
    }
    return -1;
}

/*
 * Looks a key up like flb_kv_get_key_value: case-insensitive, exact length,
 * first match wins, and a property set empty reads as NULL.
 */
static const char *input_get_property(const char *key, void *i_ins)
{
    const struct host_instance *ins = i_ins;
    size_t len;

    if (key == NULL || ins == NULL) {
        return NULL;
    }
    len = strlen(key);
    if (len == 0) {
        return NULL;
    }
    for (size_t i = 0; i < ins->spec->nprops; i++) {
        const struct host_property *p = &ins->spec->props[i];

        if (strlen(p->key) == len && strncasecmp(p->key, key, len) == 0) {
            return p->value;
        }
    }
    return NULL;
}

/*
 * Returns the alias or the numbered name of an instance, as Fluent Bit's flb_input_name. The
 * fluent-bit executable exports it (it is linked with its dynamic symbols), and plugins may
 * look it up with dlsym although it is not part of the proxy ABI; -rdynamic exports it here.
 */
const char *flb_input_name(void *i_ins)
{
    const struct host_instance *ins = i_ins;

    return ins->spec->alias ? ins->spec->alias : ins->spec->name;
}

/* Returns whether level is enabled for the instance, as flb_input_log_check. */
static int input_log_check(void *i_ins, int level)
{
    const struct host_instance *ins = i_ins;

    return ins->spec->log_level >= level;
}

/*
 * NOTE: Fluent Bit returns the instance's cmetrics context here. The host has
 * no cmetrics, so a plugin that calls cmt_* on the result must handle NULL.
 */
static void *input_get_cmt_instance(void *i_ins)
{
    (void)i_ins;
    return NULL;
}

/*
 * The output and custom slots take other instance types. Fluent Bit would
 * read an input instance through the wrong struct, so the host stops here.
 */
static const char *output_get_property(const char *key, void *ins)
{
    (void)ins;
    host_diag("plugin called output_get_property(\"%s\") from an input; aborting", key);
    abort();
}

static void *output_get_cmt_instance(void *ins)
{
    (void)ins;
    host_diag("plugin called output_get_cmt_instance from an input; aborting");
    abort();
}

static int output_log_check(void *ins, int level)
{
    (void)ins;
    host_diag("plugin called output_log_check(%d) from an input; aborting", level);
    abort();
}

static const char *custom_get_property(const char *key, void *ins)
{
    (void)ins;
    host_diag("plugin called custom_get_property(\"%s\") from an input; aborting", key);
    abort();
}

static int custom_log_check(void *ins, int level)
{
    (void)ins;
    host_diag("plugin called custom_log_check(%d) from an input; aborting", level);
    abort();
}

/* Allocates the nine-slot API table, one per loaded proxy as Fluent Bit does. */
struct flb_api *api_create(void)
{
    struct flb_api *api = calloc(1, sizeof(*api));

    if (api == NULL) {
        return NULL;
    }
    api->output_get_property = output_get_property;
    api->input_get_property = input_get_property;
    api->output_get_cmt_instance = output_get_cmt_instance;
    api->input_get_cmt_instance = input_get_cmt_instance;
    api->log_print = flb_log_print;
    api->input_log_check = input_log_check;
    api->output_log_check = output_log_check;
    api->custom_get_property = custom_get_property;
    api->custom_log_check = custom_log_check;
    return api;
}
