/*
 * Input instance threads, as src/flb_input_thread.c runs them for a threaded
 * Go input: Init on the instance's own thread, a timer collector, and the
 * pause, resume and exit messages from the main thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "flbhost.h"

static pthread_cond_t init_cond = PTHREAD_COND_INITIALIZER;

/* Returns CLOCK_MONOTONIC in nanoseconds. */
int64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps for ms milliseconds, resuming after signal interruptions. */
void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Sends one operation to the instance thread's channel. */
void instance_send(struct host_instance *ins, enum thread_op op)
{
    unsigned char byte = (unsigned char)op;

    while (write(ins->ctl[1], &byte, 1) != 1) {
        if (errno != EINTR) {
            host_diag("cannot signal thread of %s: %s", ins->spec->name, strerror(errno));
            return;
        }
    }
}

static const char *instance_name(const struct host_instance *ins)
{
    return ins->spec->alias ? ins->spec->alias : ins->spec->name;
}

/* Writes the whole buffer with write(2), retrying short writes. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Stores one buffer the way flb_input_log_append would, after decoding it.
 * Fluent Bit would store an undecodable buffer whole and fail later in a
 * filter or output; the host rejects it here so tests see the fault.
 */
static void append_buffer(struct host_instance *ins, const void *data, size_t len)
{
    struct json_buffer json = {0};
    size_t records = 0;
    char err[768];
    int paused;
    int stop = 0;

    pthread_mutex_lock(&engine_lock);
    stats.buffers++;
    stats.bytes += len;
    if (len > stats.max_buffer_bytes) {
        stats.max_buffer_bytes = len;
    }
    pthread_mutex_unlock(&engine_lock);

    if (decode_buffer(ins, data, len, &json, &records, err, sizeof(err)) != 0) {
        host_diag("invalid buffer of %zu bytes from %s: %s", len, ins->spec->name, err);
        pthread_mutex_lock(&engine_lock);
        stats.invalid_buffers++;
        pthread_mutex_unlock(&engine_lock);
        json_buffer_free(&json);
        return;
    }

    /* input_chunk_append_raw refuses appends while the instance is paused. */
    pthread_mutex_lock(&engine_lock);
    paused = ins->buf_paused;
    if (paused) {
        stats.dropped_paused_records += records;
    } else if (records > 0) {
        if (write_all(out_fd, json.data, json.len) != 0) {
            host_diag("cannot write records of %s: %s", ins->spec->name, strerror(errno));
        }
        stats.records += records;
        if (options.stop_after_records > 0 && stats.records >= options.stop_after_records) {
            stop = 1;
        }
    }
    pthread_mutex_unlock(&engine_lock);

    /* NOTE: Fluent Bit gates core debug lines by the service log_level, which the
     * host does not have, so it uses the instance's log_level instead. */
    if (paused && ins->spec->log_level >= FLB_LOG_DEBUG) {
        flb_log_print(FLB_LOG_DEBUG, NULL, 0, "[input chunk] %s is paused, cannot append records",
                      instance_name(ins));
    }
    if (stop) {
        request_shutdown();
    }
    json_buffer_free(&json);
}

/*
 * Prints what flb_errno() prints after a callback returned -1. The file name
 * is __FILE__ as the official image's build (in /src/fluent-bit) spells it.
 */
static void log_errno(int line)
{
    int err = errno;
    char buf[256];
    const char *msg = strerror_r(err, buf, sizeof(buf));

    flb_log_print(FLB_LOG_ERROR, NULL, 0, "[/src/fluent-bit/src/flb_plugin_proxy.c:%i errno=%i] %s",
                  line, err, msg);
}

/* One run of flb_proxy_input_cb_collect with proxy_go_input_collect/cleanup. */
static void collect(struct host_instance *ins)
{
    struct flbgo_input_plugin *plugin = ins->proxy->plugin;
    void *remote = ins->context->remote_context;
    void *data = NULL;
    size_t len = 0;
    int ret;

    errno = 0;
    if (plugin->cb_collect_ctx) {
        ret = plugin->cb_collect_ctx(remote, &data, &len);
    } else {
        ret = plugin->cb_collect(&data, &len);
    }
    leak_track(data);

    if (len == 0) {
        if (ins->spec->log_level >= FLB_LOG_TRACE) {
            flb_log_print(FLB_LOG_TRACE, NULL, 0, "[GO] No logs are ingested");
        }
        return;
    }
    if (ret == -1) {
        log_errno(93);
        return;
    }

    append_buffer(ins, data, len);

    errno = 0;
    ret = 0;
    if (plugin->cb_cleanup_ctx) {
        ret = plugin->cb_cleanup_ctx(remote, data);
    } else if (plugin->cb_cleanup) {
        ret = plugin->cb_cleanup(data);
    } else if (data != NULL) {
        free(data);
    }
    if (ret == -1) {
        log_errno(101);
    }
}

/*
 * Emulates flb_proxy_input_cb_pause/resume in 5.1.1: the plugin callback runs
 * on this thread, but the collector toggled is coll_fd of proxy->instance,
 * the instance initialized last, whatever instance got the message.
 */
static void thread_pause(struct host_instance *ins)
{
    struct host_instance *target;

    if (ins->proxy->cb_pause) {
        ins->proxy->cb_pause();
    }
    pthread_mutex_lock(&engine_lock);
    target = ins->proxy->last_instance;
    /* Collector ids restart at 0 per instance, so coll_fd names target's timer. */
    if (target != NULL && ins->context->coll_fd == 0 && target->collector_running) {
        target->collector_running = 0;
    }
    pthread_mutex_unlock(&engine_lock);
    if (target != NULL && target != ins) {
        instance_send(target, OP_WAKE);
    }
}

static void thread_resume(struct host_instance *ins)
{
    struct host_instance *target;
    int already = 0;

    if (ins->proxy->cb_resume) {
        ins->proxy->cb_resume();
    }
    pthread_mutex_lock(&engine_lock);
    target = ins->proxy->last_instance;
    if (target != NULL && ins->context->coll_fd == 0) {
        if (target->collector_running) {
            already = 1;
        } else if (ins->proxy->ingestion_active) {
            /* A new timer starts counting from now, as mk_event_timeout_create does. */
            target->collector_running = 1;
            target->next_tick_ns = monotonic_ns() + options.interval_ms * 1000000;
        }
    }
    pthread_mutex_unlock(&engine_lock);
    if (already) {
        flb_log_print(FLB_LOG_ERROR, NULL, 0,
                      "[input] cannot resume collector %s:%i, already running",
                      target->spec->name, ins->context->coll_fd);
    }
    if (target != NULL && target != ins) {
        instance_send(target, OP_WAKE);
    }
}

/* Waits for the next operation or timer tick; returns the op, or 0 for a tick. */
static int thread_wait(struct host_instance *ins)
{
    for (;;) {
        struct pollfd pfd = {.fd = ins->ctl[0], .events = POLLIN};
        int timeout = -1;
        int64_t now = monotonic_ns();
        int rc;

        pthread_mutex_lock(&engine_lock);
        if (ins->collector_running) {
            int64_t wait_ns = ins->next_tick_ns - now;

            if (wait_ns <= 0) {
                /* Like a timerfd, overdue ticks collapse into one. */
                while (ins->next_tick_ns <= now) {
                    ins->next_tick_ns += options.interval_ms * 1000000;
                }
                pthread_mutex_unlock(&engine_lock);
                return 0;
            }
            timeout = (int)((wait_ns + 999999) / 1000000);
        }
        pthread_mutex_unlock(&engine_lock);

        rc = poll(&pfd, 1, timeout);
        if (rc < 0 && errno != EINTR) {
            host_diag("poll failed on thread of %s: %s", ins->spec->name, strerror(errno));
            return OP_EXIT;
        }
        if (rc > 0) {
            unsigned char byte;
            ssize_t n = read(ins->ctl[0], &byte, 1);

            if (n == 1 && byte != OP_WAKE) {
                return byte;
            }
        }
    }
}

static void set_init_status(struct host_instance *ins, int status)
{
    pthread_mutex_lock(&engine_lock);
    ins->init_status = status;
    pthread_cond_broadcast(&init_cond);
    pthread_mutex_unlock(&engine_lock);
}

/* Runs flb_proxy_input_cb_init on the instance thread. */
static int thread_init(struct host_instance *ins)
{
    struct host_proxy *proxy = ins->proxy;
    struct flbgo_input_plugin *plugin = proxy->plugin;
    int ret;

    /* flb_proxy_input_cb_init: proxy->instance becomes the instance being initialized. */
    pthread_mutex_lock(&engine_lock);
    proxy->last_instance = ins;
    pthread_mutex_unlock(&engine_lock);
    plugin->api = proxy->api;
    plugin->i_ins = ins;
    plugin->context = ins->context;

    ret = plugin->cb_init(plugin);
    if (ret <= 0) {
        flb_log_print(FLB_LOG_ERROR, NULL, 0, "[go proxy]: plugin '%s' failed to initialize",
                      plugin->name);
        flb_log_print(FLB_LOG_ERROR, NULL, 0,
                      "Could not initialize proxy for threaded input plugin");
        /* The init_error path frees the context; a stored remote_context is lost. */
        free(ins->context);
        ins->context = NULL;
        return -1;
    }

    /* flb_input_set_collector_time returns the instance's first collector id, 0. */
    ins->context->coll_fd = 0;
    return 0;
}

static void *instance_thread(void *arg)
{
    struct host_instance *ins = arg;
    char title[64];
    int op;

    snprintf(title, sizeof(title), "flb-in-%s-w0", ins->spec->name);
    /* PR_SET_NAME keeps the first 15 bytes, as for Fluent Bit's threads. */
    prctl(PR_SET_NAME, title, 0, 0, 0);

    if (thread_init(ins) != 0) {
        flb_log_print(FLB_LOG_ERROR, NULL, 0, "failed initialize input %s", instance_name(ins));
        set_init_status(ins, -1);
        return NULL;
    }
    set_init_status(ins, 1);

    /* flb_input_thread_collectors_signal_wait: the first message must start collectors. */
    op = thread_wait(ins);
    if (op != OP_START_COLLECTORS) {
        flb_log_print(FLB_LOG_ERROR, NULL, 0, "[input:%s:%s] wrong event, type=2 op=%i\n",
                      ins->proxy->plugin->name, instance_name(ins), op);
        return NULL;
    }

    pthread_mutex_lock(&engine_lock);
    ins->collector_running = 1;
    ins->next_tick_ns = monotonic_ns() + options.interval_ms * 1000000;
    pthread_mutex_unlock(&engine_lock);

    if (ins->proxy->cb_pre_run) {
        ins->proxy->cb_pre_run(options.hot_reload);
    }

    for (;;) {
        op = thread_wait(ins);
        if (op == 0) {
            collect(ins);
        } else if (op == OP_PAUSE) {
            thread_pause(ins);
        } else if (op == OP_RESUME) {
            thread_resume(ins);
        } else if (op == OP_EXIT) {
            break;
        }
    }

    /* flb_proxy_input_cb_exit: PreExit, then Exit, both on this thread. */
    if (ins->proxy->cb_pre_exit) {
        ins->proxy->cb_pre_exit(ins->proxy->shutdown_by_hot_reloading);
    }
    if (ins->spec->log_level >= FLB_LOG_DEBUG) {
        flb_log_print(FLB_LOG_DEBUG, NULL, 0, "[GO] running exit callback");
    }
    if (ins->proxy->plugin->cb_exit) {
        ins->proxy->plugin->cb_exit();
    }
    free(ins->context);
    ins->context = NULL;
    return NULL;
}

static int instance_create(struct host_proxy *proxy, struct host_instance *ins)
{
    ins->proxy = proxy;
    ins->context = calloc(1, sizeof(*ins->context));
    if (ins->context == NULL) {
        return -1;
    }
    ins->context->proxy = proxy;
    if (pipe(ins->ctl) != 0) {
        host_diag("pipe failed: %s", strerror(errno));
        return -1;
    }
    if (pthread_create(&ins->thread, NULL, instance_thread, ins) != 0) {
        host_diag("cannot start thread for %s", ins->spec->name);
        return -1;
    }
    ins->thread_started = 1;
    return 0;
}

/* Prints the lines flb_input_instance_init and flb_engine_start print on failure. */
static void log_init_failure(struct host_instance *ins)
{
    flb_log_print(FLB_LOG_ERROR, NULL, 0, "[input:%s:%s] could not initialize threaded plugin "
                  "instance", ins->proxy->plugin->name, instance_name(ins));
    flb_log_print(FLB_LOG_ERROR, NULL, 0, "failed initialize input %s", ins->spec->name);
    flb_log_print(FLB_LOG_ERROR, NULL, 0, "[engine] input initialization failed");
}

/*
 * Initializes every instance in order, one at a time, then starts their
 * collectors. Returns -1 when an Init failed; instances initialized before it
 * get the exit message while still waiting for collectors, so (as in Fluent
 * Bit 5.1.1) their threads end without PreExit or Exit.
 */
int instances_start(struct host_proxy *proxy)
{
    for (size_t i = 0; i < proxy->ninstances; i++) {
        struct host_instance *ins = &proxy->instances[i];
        int status;

        if (ins->spec->log_level >= FLB_LOG_INFO) {
            flb_log_print(FLB_LOG_INFO, NULL, 0, "[input:%s:%s] initializing",
                          proxy->plugin->name, instance_name(ins));
        }
        if (instance_create(proxy, ins) != 0) {
            return -1;
        }
        pthread_mutex_lock(&engine_lock);
        while (ins->init_status == 0) {
            pthread_cond_wait(&init_cond, &engine_lock);
        }
        status = ins->init_status;
        pthread_mutex_unlock(&engine_lock);

        if (status < 0) {
            log_init_failure(ins);
            pthread_join(ins->thread, NULL);
            ins->thread_started = 0;
            for (size_t j = 0; j < i; j++) {
                instance_send(&proxy->instances[j], OP_EXIT);
                pthread_join(proxy->instances[j].thread, NULL);
                proxy->instances[j].thread_started = 0;
            }
            return -1;
        }
        if (ins->spec->log_level >= FLB_LOG_INFO) {
            flb_log_print(FLB_LOG_INFO, NULL, 0, "[input:%s:%s] thread instance initialized",
                          proxy->plugin->name, instance_name(ins));
        }
    }
    for (size_t i = 0; i < proxy->ninstances; i++) {
        instance_send(&proxy->instances[i], OP_START_COLLECTORS);
    }
    return 0;
}

/* Emulates flb_input_pause for backpressure: mark paused, then message the thread. */
void instance_pause(struct host_instance *ins)
{
    int already;

    pthread_mutex_lock(&engine_lock);
    already = ins->buf_paused;
    ins->buf_paused = 1;
    pthread_mutex_unlock(&engine_lock);
    if (already) {
        host_diag("%s is already paused", ins->spec->name);
        return;
    }
    host_diag("pausing %s as mem_buf_limit backpressure would", ins->spec->name);
    instance_send(ins, OP_PAUSE);
}

/* Emulates flb_input_resume once the backpressure condition cleared. */
void instance_resume(struct host_instance *ins)
{
    int paused;

    pthread_mutex_lock(&engine_lock);
    paused = ins->buf_paused;
    ins->buf_paused = 0;
    pthread_mutex_unlock(&engine_lock);
    if (!paused) {
        host_diag("%s is not paused", ins->spec->name);
        return;
    }
    host_diag("resuming %s", ins->spec->name);
    instance_send(ins, OP_RESUME);
}

/* Pauses every running instance as flb_input_pause_all does. */
static void pause_all(struct host_proxy *proxy)
{
    for (size_t i = 0; i < proxy->ninstances; i++) {
        struct host_instance *ins = &proxy->instances[i];
        int paused;

        pthread_mutex_lock(&engine_lock);
        paused = ins->buf_paused;
        pthread_mutex_unlock(&engine_lock);
        /* flb_input_pause skips an instance whose buffer is already paused. */
        if (ins->thread_started && !paused) {
            instance_send(ins, OP_PAUSE);
        }
    }
}

/*
 * Stops one proxy's instances like flb_engine_stop_ingestion, the grace
 * period and flb_input_exit_all (which walks the instances in reverse).
 */
void instances_stop(struct host_proxy *proxy)
{
    flb_log_print(FLB_LOG_INFO, NULL, 0, "[engine] pausing all inputs..");
    pthread_mutex_lock(&engine_lock);
    proxy->ingestion_active = 0;
    pthread_mutex_unlock(&engine_lock);

    pause_all(proxy);

    sleep_ms(options.grace_ms);

    /*
     * flb_engine_shutdown runs flb_input_pause_all again, and flb_input_pause skips only
     * instances whose buffer is paused, so every other instance sees a second Pause.
     */
    flb_log_print(FLB_LOG_INFO, NULL, 0, "[engine] service has stopped (0 pending tasks)");
    pause_all(proxy);

    for (size_t i = proxy->ninstances; i-- > 0;) {
        struct host_instance *ins = &proxy->instances[i];

        if (!ins->thread_started) {
            continue;
        }
        instance_send(ins, OP_EXIT);
        pthread_join(ins->thread, NULL);
        ins->thread_started = 0;
    }
}
