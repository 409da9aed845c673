/*
 * flbhost: a test host that loads a Go input plugin the way Fluent Bit 5.1's
 * Go proxy does (src/flb_plugin_proxy.c and src/proxy/go/go.c at v5.1.1).
 */
#ifndef FLBHOST_H
#define FLBHOST_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Values from include/fluent-bit/flb_plugin_proxy.h and flb_log.h (5.1.1). */
#define FLB_PROXY_INPUT_PLUGIN 1
#define FLB_PROXY_GOLANG 11

#define FLB_LOG_OFF 0
#define FLB_LOG_ERROR 1
#define FLB_LOG_WARN 2
#define FLB_LOG_INFO 3
#define FLB_LOG_DEBUG 4
#define FLB_LOG_TRACE 5

/* struct flb_plugin_proxy_def, 5.1.1 layout (48 bytes on LP64). */
struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
    int event_type;
    void *config_map;
};

/* struct flb_api, include/fluent-bit/flb_api.h; member order is ABI. */
struct flb_api {
    const char *(*output_get_property)(const char *, void *);
    const char *(*input_get_property)(const char *, void *);
    void *(*output_get_cmt_instance)(void *);
    void *(*input_get_cmt_instance)(void *);
    void (*log_print)(int, const char *, int, const char *, ...);
    int (*input_log_check)(void *, int);
    int (*output_log_check)(void *, int);
    const char *(*custom_get_property)(const char *, void *);
    int (*custom_log_check)(void *, int);
};

/* struct flb_plugin_input_proxy_context, one per [INPUT] instance. */
struct flb_plugin_input_proxy_context {
    int coll_fd;
    void *remote_context;
    void *proxy;
};

/* struct flbgo_input_plugin from src/proxy/go/go.h, shared by all instances. */
struct flbgo_input_plugin {
    char *name;
    void *api;
    void *i_ins;
    struct flb_plugin_input_proxy_context *context;
    int (*cb_init)(struct flbgo_input_plugin *);
    int (*cb_collect)(void **, size_t *);
    int (*cb_collect_ctx)(void *, void **, size_t *);
    int (*cb_cleanup)(void *);
    int (*cb_cleanup_ctx)(void *, void *);
    int (*cb_exit)(void);
};

/* A property the plugin can read; value is NULL when it was set empty. */
struct host_property {
    char *key;
    char *value;
};

/* One -i block of the command line; reused for every (re)start. */
struct instance_spec {
    char *name;
    char *tag;
    char *alias;
    int log_level;
    struct host_property *props;
    size_t nprops;
};

struct host_proxy;

/* Thread-to-thread operations, as FLB_INPUT_THREAD_* in flb_input_thread.h. */
enum thread_op {
    OP_PAUSE = 1,
    OP_RESUME = 2,
    OP_EXIT = 3,
    OP_START_COLLECTORS = 4,
    OP_WAKE = 100,
};

/* The emulated struct flb_input_instance; plugins receive it as i_ins. */
struct host_instance {
    const struct instance_spec *spec;
    struct host_proxy *proxy;
    struct flb_plugin_input_proxy_context *context;
    pthread_t thread;
    int thread_started;
    int ctl[2];

    /* Guarded by engine_lock. */
    int init_status; /* 0 pending, 1 ok, -1 failed */
    int collector_running;
    int64_t next_tick_ns;
    int buf_paused;
};

/* One load of the shared object: what struct flb_plugin_proxy holds. */
struct host_proxy {
    void *dso;
    struct flb_plugin_proxy_def *def;
    struct flb_api *api;
    struct flbgo_input_plugin *plugin;
    struct host_instance *last_instance;
    struct host_instance *instances;
    size_t ninstances;
    int shutdown_by_hot_reloading;
    int ingestion_active;
    void (*cb_pause)(void);
    void (*cb_resume)(void);
    int (*cb_pre_run)(int);
    void (*cb_pre_exit)(int);
    void (*cb_unregister)(struct flb_plugin_proxy_def *);
};

/* Counters printed in the summary line; guarded by engine_lock. */
struct host_stats {
    uint64_t records;
    uint64_t buffers;
    uint64_t bytes;
    uint64_t max_buffer_bytes;
    uint64_t invalid_buffers;
    uint64_t dropped_paused_records;
    int init_failed;
};

/* Host-wide settings from the command line. */
struct host_options {
    const char *plugin_path;
    struct instance_spec *specs;
    size_t nspecs;
    int64_t interval_ms;
    const char *out_path;
    uint64_t stop_after_records;
    int64_t duration_ms;
    int64_t grace_ms;
    int hot_reload;
};

extern pthread_mutex_t engine_lock;
extern struct host_stats stats;
extern struct host_options options;
extern int out_fd;

/* api.c */
struct flb_api *api_create(void);
const char *flb_input_name(void *i_ins);
void flb_log_print(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void host_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int log_level_parse(const char *text);

/* decode.c */
struct json_buffer {
    char *data;
    size_t len;
    size_t cap;
};
int decode_buffer(const struct host_instance *ins, const char *data, size_t len,
                  struct json_buffer *out, size_t *records, char *err, size_t errlen);
void json_buffer_free(struct json_buffer *b);

/* leak.c */
void leak_track(void *ptr);
size_t leak_outstanding(void);

/* instance.c */
int64_t monotonic_ns(void);
int instances_start(struct host_proxy *proxy);
void instance_send(struct host_instance *ins, enum thread_op op);
void instance_pause(struct host_instance *ins);
void instance_resume(struct host_instance *ins);
void instances_stop(struct host_proxy *proxy);
void request_shutdown(void);
void sleep_ms(int64_t ms);

#endif
