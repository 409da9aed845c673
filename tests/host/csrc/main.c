/*
 * flbhost: loads a Go input plugin the way Fluent Bit 5.1's Go proxy does and
 * writes the records it emits as JSON lines. See README.md for the contract.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "flbhost.h"

_Static_assert(sizeof(struct flb_plugin_proxy_def) == 48, "flb_plugin_proxy_def is 48 bytes");
_Static_assert(offsetof(struct flb_plugin_proxy_def, name) == 16, "def.name at 16");
_Static_assert(offsetof(struct flb_plugin_proxy_def, event_type) == 32, "def.event_type at 32");
_Static_assert(offsetof(struct flb_plugin_proxy_def, config_map) == 40, "def.config_map at 40");
_Static_assert(sizeof(struct flb_api) == 72, "flb_api has nine slots");
_Static_assert(offsetof(struct flb_api, log_print) == 32, "log_print at 32");
_Static_assert(offsetof(struct flb_plugin_input_proxy_context, remote_context) == 8,
               "remote_context at 8");
_Static_assert(offsetof(struct flbgo_input_plugin, context) == 24, "plugin.context at 24");
_Static_assert(sizeof(struct flbgo_input_plugin) == 80, "flbgo_input_plugin is 80 bytes");

enum exit_code {
    EXIT_OK = 0,
    EXIT_INIT_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_INVALID_BUFFER = 3,
    EXIT_LEAKED_BUFFER = 4,
    EXIT_DROPPED_PAUSED = 5,
};

pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
struct host_stats stats;
struct host_options options = {
    .interval_ms = 1000,
    .grace_ms = 200,
};
int out_fd = STDOUT_FILENO;

/* Self-pipe for signals and for shutdown requests from instance threads. */
static int event_pipe[2] = {-1, -1};

static const char usage_text[] =
    "usage: flbhost [options] PLUGIN.so\n"
    "  -i NAME                 start an [INPUT] instance named NAME; -p/-t/-l apply to it\n"
    "  -p KEY=VALUE            property of the current instance\n"
    "  -t TAG                  tag of the current instance (default: its name)\n"
    "  -l LEVEL                log_level of the current instance: "
    "off|error|warn|info|debug|trace\n"
    "  --interval-ms N         collect timer period in milliseconds (default 1000)\n"
    "  --out FILE              append records to FILE as JSON lines (default stdout)\n"
    "  --stop-after-records N  shut down once N records were stored\n"
    "  --duration-ms N         shut down after N milliseconds (0 = no limit)\n"
    "  --grace-ms N            milliseconds between pausing inputs and Exit (default 200)\n"
    "  --hot-reload            run as with hot_reload on (PreRun(1), reload allowed)\n"
    "stdin commands: pause NAME | resume NAME | reload | stop\n";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
    va_list args;

    fputs("[flbhost] ", stderr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputs("\n", stderr);
    fputs(usage_text, stderr);
    exit(EXIT_USAGE);
}

/* Signals the main loop; async-signal-safe. */
static void post_event(char event)
{
    ssize_t n = write(event_pipe[1], &event, 1);

    (void)n;
}

/* Asks the main thread to begin the shutdown sequence. */
void request_shutdown(void)
{
    post_event('S');
}

static void on_stop_signal(int sig)
{
    (void)sig;
    post_event('S');
}

static void on_hup_signal(int sig)
{
    (void)sig;
    post_event('H');
}

static int64_t parse_count(const char *opt, const char *text)
{
    char *end = NULL;
    long long v;

    if (text == NULL) {
        usage_error("%s needs a value", opt);
    }
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0) {
        usage_error("invalid %s value \"%s\"; expected a non-negative integer", opt, text);
    }
    return v;
}

/* Expands ${VAR} from the environment, as flb_env_var_translate does; unset is empty. */
static char *expand_env(const char *v)
{
    size_t cap = strlen(v) + 1;
    size_t len = 0;
    char *out = malloc(cap);

    if (out == NULL) {
        usage_error("out of memory");
    }
    while (*v) {
        const char *close = NULL;
        const char *add = v;
        size_t addlen = 1;
        char name[256];

        if (v[0] == '$' && v[1] == '{') {
            close = strchr(v + 2, '}');
        }
        if (close != NULL && (size_t)(close - v - 2) < sizeof(name)) {
            memcpy(name, v + 2, (size_t)(close - v - 2));
            name[close - v - 2] = '\0';
            add = getenv(name);
            addlen = add ? strlen(add) : 0;
            v = close + 1;
        } else {
            v++;
        }
        if (len + addlen + 1 > cap) {
            cap = (len + addlen + 1) * 2;
            out = realloc(out, cap);
            if (out == NULL) {
                usage_error("out of memory");
            }
        }
        if (addlen > 0) {
            memcpy(out + len, add, addlen);
        }
        len += addlen;
    }
    out[len] = '\0';
    return out;
}

/* Keys flb_input_set_property consumes whatever the value, so plugins never see them. */
static const char *const core_keys_always[] = {
    "listen",       "host",        "port",         "tls.vhost",       "tls.ca_path",
    "tls.ca_file",  "tls.crt_file", "tls.key_file", "tls.key_passwd",  "tls.min_version",
    "tls.max_version", "tls.ciphers",
};

/* Keys it consumes only when the value is not empty; an empty one reaches the plugin. */
static const char *const core_keys_nonempty[] = {
    "tag",
    "log_level",
    "log_suppress_interval",
    "routable",
    "alias",
    "mem_buf_limit",
    "ipv6",
    "tls",
    "tls.verify",
    "tls.verify_client_cert",
    "tls.verify_hostname",
    "tls.debug",
    "storage.type",
    "threaded",
    "thread.ring_buffer.capacity",
    "thread.ring_buffer.window",
    "rate_window",
    "rate_gate",
    "rate_gate.max_bytes",
    "rate_gate.max_records",
    "rate_gate.backpressure",
    "rate_gate.resume_ratio",
    "storage.pause_on_chunks_overlimit",
};

static int key_in(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(key, list[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int bool_parse(const char *v)
{
    if (strcasecmp(v, "true") == 0 || strcasecmp(v, "on") == 0 || strcasecmp(v, "yes") == 0) {
        return 1;
    }
    if (strcasecmp(v, "false") == 0 || strcasecmp(v, "off") == 0 || strcasecmp(v, "no") == 0) {
        return 0;
    }
    return -1;
}

/*
 * Applies one -p like flb_input_set_property: core keys change the instance
 * or vanish, everything else is stored for input_get_property.
 * NOTE: http server keys are not filtered because a Go input never sets the
 * FLB_INPUT_HTTP_SERVER flag, and the values of most core keys are not
 * validated here as Fluent Bit would.
 */
static void spec_set_property(struct instance_spec *spec, const char *kv)
{
    const char *eq = strchr(kv, '=');
    char *key;
    char *value;
    int empty;

    if (eq == NULL || eq == kv) {
        usage_error("invalid -p \"%s\"; expected KEY=VALUE", kv);
    }
    key = strndup(kv, (size_t)(eq - kv));
    value = expand_env(eq + 1);
    empty = value[0] == '\0';

    if (!empty && strcasecmp(key, "tag") == 0) {
        spec->tag = value;
    } else if (!empty && strcasecmp(key, "log_level") == 0) {
        spec->log_level = log_level_parse(value);
        if (spec->log_level < 0) {
            usage_error("invalid log_level \"%s\" for %s; use off, error, warn, info, debug "
                        "or trace", value, spec->name);
        }
    } else if (!empty && strcasecmp(key, "alias") == 0) {
        spec->alias = value;
    } else if (!empty && strcasecmp(key, "threaded") == 0) {
        if (bool_parse(value) < 0) {
            usage_error("invalid threaded \"%s\" for %s; use on or off", value, spec->name);
        }
        if (bool_parse(value) == 0) {
            usage_error("threaded off for %s is not emulated: Fluent Bit would run the Go "
                        "callbacks on its engine thread; remove the property", spec->name);
        }
    } else if ((!empty && key_in(key, core_keys_nonempty,
                                 sizeof(core_keys_nonempty) / sizeof(core_keys_nonempty[0]))) ||
               key_in(key, core_keys_always,
                      sizeof(core_keys_always) / sizeof(core_keys_always[0])) ||
               (!empty && (strncasecmp(key, "net.", 4) == 0 ||
                           strncasecmp(key, "oauth2", 6) == 0))) {
        /* Consumed by Fluent Bit's core; the plugin cannot read it. */
    } else {
        struct host_property *props =
            realloc(spec->props, (spec->nprops + 1) * sizeof(*spec->props));

        if (props == NULL) {
            usage_error("out of memory");
        }
        spec->props = props;
        spec->props[spec->nprops].key = key;
        spec->props[spec->nprops].value = empty ? NULL : value;
        spec->nprops++;
        return;
    }
    free(key);
}

static struct instance_spec *current_spec(const char *opt)
{
    if (options.nspecs == 0) {
        usage_error("%s must follow -i NAME", opt);
    }
    return &options.specs[options.nspecs - 1];
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            exit(EXIT_OK);
        } else if (strcmp(a, "-i") == 0) {
            struct instance_spec *specs;

            if (v == NULL || v[0] == '\0') {
                usage_error("-i needs an instance name, for example okta.0");
            }
            for (size_t j = 0; j < options.nspecs; j++) {
                if (strcmp(options.specs[j].name, v) == 0) {
                    usage_error("duplicate instance name \"%s\"", v);
                }
            }
            specs = realloc(options.specs, (options.nspecs + 1) * sizeof(*specs));
            if (specs == NULL) {
                usage_error("out of memory");
            }
            options.specs = specs;
            memset(&specs[options.nspecs], 0, sizeof(specs[0]));
            specs[options.nspecs].name = strdup(v);
            specs[options.nspecs].log_level = FLB_LOG_INFO;
            options.nspecs++;
            i++;
        } else if (strcmp(a, "-p") == 0) {
            if (v == NULL) {
                usage_error("-p needs KEY=VALUE");
            }
            spec_set_property(current_spec("-p"), v);
            i++;
        } else if (strcmp(a, "-t") == 0) {
            if (v == NULL || v[0] == '\0') {
                usage_error("-t needs a tag");
            }
            current_spec("-t")->tag = strdup(v);
            i++;
        } else if (strcmp(a, "-l") == 0) {
            struct instance_spec *spec = current_spec("-l");

            if (v == NULL) {
                usage_error("-l needs a level");
            }
            spec->log_level = log_level_parse(v);
            if (spec->log_level < 0) {
                usage_error("invalid -l \"%s\"; use off, error, warn, info, debug or trace", v);
            }
            i++;
        } else if (strcmp(a, "--interval-ms") == 0) {
            options.interval_ms = parse_count(a, v);
            if (options.interval_ms == 0) {
                usage_error("--interval-ms must be at least 1");
            }
            i++;
        } else if (strcmp(a, "--out") == 0) {
            if (v == NULL) {
                usage_error("--out needs a file name");
            }
            options.out_path = v;
            i++;
        } else if (strcmp(a, "--stop-after-records") == 0) {
            options.stop_after_records = (uint64_t)parse_count(a, v);
            i++;
        } else if (strcmp(a, "--duration-ms") == 0) {
            options.duration_ms = parse_count(a, v);
            i++;
        } else if (strcmp(a, "--grace-ms") == 0) {
            options.grace_ms = parse_count(a, v);
            i++;
        } else if (strcmp(a, "--hot-reload") == 0) {
            options.hot_reload = 1;
        } else if (a[0] == '-') {
            usage_error("unknown option \"%s\"", a);
        } else if (options.plugin_path != NULL) {
            usage_error("more than one plugin given (\"%s\" and \"%s\")", options.plugin_path, a);
        } else {
            options.plugin_path = a;
        }
    }
    if (options.plugin_path == NULL) {
        usage_error("missing PLUGIN.so");
    }
    if (options.nspecs == 0) {
        usage_error("no instance; add -i NAME (for example -i okta.0)");
    }
    for (size_t i = 0; i < options.nspecs; i++) {
        if (options.specs[i].tag == NULL) {
            options.specs[i].tag = options.specs[i].name;
        }
    }
}

/*
 * Logs the error Fluent Bit prints for an [INPUT] whose plugin did not
 * register. The section name is the first instance name up to its last dot.
 */
static void log_unknown_plugin(void)
{
    const char *name = options.specs[0].name;
    const char *dot = strrchr(name, '.');
    int len = dot ? (int)(dot - name) : (int)strlen(name);

    flb_log_print(FLB_LOG_ERROR, NULL, 0,
                  "[config] section '%.*s' tried to instance a plugin name that doesn't exist",
                  len, name);
}

static void *symbol(void *dso, const char *name)
{
    void *s;

    dlerror();
    s = dlsym(dso, name);
    if (dlerror() != NULL) {
        return NULL;
    }
    return s;
}

static void proxy_unload(struct host_proxy *proxy)
{
    if (proxy->cb_unregister) {
        proxy->cb_unregister(proxy->def);
    }
    if (proxy->plugin) {
        free(proxy->plugin->name);
        free(proxy->plugin);
    }
    free(proxy->def);
    free(proxy->api);
    /* A Go c-shared library is linked -z nodelete, so this does not unmap it. */
    dlclose(proxy->dso);
    for (size_t i = 0; i < proxy->ninstances; i++) {
        if (proxy->instances[i].ctl[0] > 0) {
            close(proxy->instances[i].ctl[0]);
            close(proxy->instances[i].ctl[1]);
        }
    }
    free(proxy->instances);
    free(proxy);
}

/* Checks what flb_plugin_proxy_register and proxy_go_input_register check. */
static int proxy_register(struct host_proxy *proxy, int hot_reloading)
{
    int (*pre_register)(int) = symbol(proxy->dso, "FLBPluginPreRegister");
    int (*do_register)(struct flb_plugin_proxy_def *) = symbol(proxy->dso, "FLBPluginRegister");
    struct flbgo_input_plugin *plugin;

    if (pre_register && pre_register(hot_reloading) == -1) {
        host_diag("FLBPluginPreRegister(%d) returned -1, so Fluent Bit registers nothing",
                  hot_reloading);
        return -1;
    }
    if (do_register == NULL) {
        host_diag("%s does not export FLBPluginRegister", options.plugin_path);
        return -1;
    }
    if (do_register(proxy->def) == -1) {
        host_diag("FLBPluginRegister returned -1, so Fluent Bit registers nothing");
        return -1;
    }
    if (proxy->def->proxy != FLB_PROXY_GOLANG || proxy->def->type != FLB_PROXY_INPUT_PLUGIN) {
        host_diag("FLBPluginRegister set type=%d proxy=%d; a Go input needs type=1 proxy=11",
                  proxy->def->type, proxy->def->proxy);
        return -1;
    }
    if (proxy->def->name == NULL || proxy->def->name[0] == '\0') {
        host_diag("FLBPluginRegister left the plugin name empty");
        return -1;
    }

    plugin = calloc(1, sizeof(*plugin));
    if (plugin == NULL) {
        return -1;
    }
    proxy->plugin = plugin;
    plugin->cb_init = symbol(proxy->dso, "FLBPluginInit");
    if (plugin->cb_init == NULL) {
        flb_log_print(FLB_LOG_ERROR, NULL, 0, "[go proxy]: could not load FLBPluginInit symbol");
        return -1;
    }
    plugin->cb_collect = symbol(proxy->dso, "FLBPluginInputCallback");
    plugin->cb_collect_ctx = symbol(proxy->dso, "FLBPluginInputCallbackCtx");
    plugin->cb_cleanup = symbol(proxy->dso, "FLBPluginInputCleanupCallback");
    plugin->cb_cleanup_ctx = symbol(proxy->dso, "FLBPluginInputCleanupCallbackCtx");
    plugin->cb_exit = symbol(proxy->dso, "FLBPluginExit");
    plugin->name = strdup(proxy->def->name);
    if (plugin->cb_collect == NULL && plugin->cb_collect_ctx == NULL) {
        /* Fluent Bit would call a NULL pointer on the first collect. */
        host_diag("plugin exports neither FLBPluginInputCallbackCtx nor FLBPluginInputCallback");
        return -1;
    }

    /* Fluent Bit resolves these with dlsym at each call; the handle never changes. */
    proxy->cb_pause = symbol(proxy->dso, "FLBPluginInputPause");
    proxy->cb_resume = symbol(proxy->dso, "FLBPluginInputResume");
    proxy->cb_pre_run = symbol(proxy->dso, "FLBPluginInputPreRun");
    proxy->cb_pre_exit = symbol(proxy->dso, "FLBPluginInputPreExit");
    proxy->cb_unregister = symbol(proxy->dso, "FLBPluginUnregister");
    return 0;
}

/* Loads the plugin like flb_plugin_proxy_create; NULL when it cannot be used. */
static struct host_proxy *proxy_load(int hot_reloading)
{
    struct host_proxy *proxy = calloc(1, sizeof(*proxy));

    if (proxy == NULL) {
        return NULL;
    }
    proxy->dso = dlopen(options.plugin_path, RTLD_LAZY);
    if (proxy->dso == NULL) {
        flb_log_print(FLB_LOG_ERROR, NULL, 0, "[proxy] error opening plugin %s: '%s'",
                      options.plugin_path, dlerror());
        flb_log_print(FLB_LOG_ERROR, NULL, 0, "[plugin] error loading proxy plugin: %s",
                      options.plugin_path);
        free(proxy);
        return NULL;
    }
    proxy->api = api_create();
    /* Fluent Bit 5.x allocates the definition with calloc and sets type to 0. */
    proxy->def = calloc(1, sizeof(*proxy->def));
    proxy->instances = calloc(options.nspecs, sizeof(*proxy->instances));
    proxy->ninstances = options.nspecs;
    proxy->ingestion_active = 1;
    if (proxy->api == NULL || proxy->def == NULL || proxy->instances == NULL) {
        proxy_unload(proxy);
        return NULL;
    }
    for (size_t i = 0; i < proxy->ninstances; i++) {
        proxy->instances[i].spec = &options.specs[i];
        proxy->instances[i].ctl[0] = -1;
        proxy->instances[i].ctl[1] = -1;
    }
    if (proxy_register(proxy, hot_reloading) != 0) {
        /* Registration did not finish, so Fluent Bit would not call Unregister. */
        proxy->cb_unregister = NULL;
        proxy_unload(proxy);
        return NULL;
    }
    return proxy;
}

static struct host_instance *find_instance(struct host_proxy *proxy, const char *name)
{
    for (size_t i = 0; i < proxy->ninstances; i++) {
        if (strcmp(proxy->instances[i].spec->name, name) == 0) {
            return &proxy->instances[i];
        }
    }
    return NULL;
}

/*
 * Hot reload per src/flb_reload.c: register the new definition while the
 * old instances run, stop and unregister the old ones, then start the same
 * instance specs again. Returns the running proxy, or NULL if the new
 * instances failed to initialize.
 */
static struct host_proxy *hot_reload(struct host_proxy *old)
{
    struct host_proxy *next;

    if (!options.hot_reload) {
        flb_log_print(FLB_LOG_WARN, NULL, 0, "[reload] hot reloading is not enabled");
        return old;
    }
    next = proxy_load(1);
    if (next == NULL) {
        flb_log_print(FLB_LOG_ERROR, NULL, 0,
                      "[reload] reloaded config is invalid. Reloading is halted");
        return old;
    }

    flb_log_print(FLB_LOG_INFO, NULL, 0, "[reload] stop everything of the old context");
    old->shutdown_by_hot_reloading = 1;
    instances_stop(old);
    proxy_unload(old);

    flb_log_print(FLB_LOG_INFO, NULL, 0, "[reload] start everything");
    if (instances_start(next) != 0) {
        flb_log_print(FLB_LOG_ERROR, NULL, 0,
                      "[reload] loaded configuration contains error(s). Reloading is aborted");
        pthread_mutex_lock(&engine_lock);
        stats.init_failed = 1;
        pthread_mutex_unlock(&engine_lock);
        proxy_unload(next);
        return NULL;
    }
    flb_log_print(FLB_LOG_INFO, NULL, 0, "[reload] successful reload done.");
    return next;
}

/* Runs one stdin command; returns 1 when it starts the shutdown sequence. */
static int run_command(struct host_proxy **proxy, char *line)
{
    char *arg;
    struct host_instance *ins;

    line[strcspn(line, "\r\n")] = '\0';
    arg = strchr(line, ' ');
    if (arg != NULL) {
        *arg++ = '\0';
        while (*arg == ' ') {
            arg++;
        }
    }
    if (line[0] == '\0') {
        return 0;
    }
    if (strcmp(line, "stop") == 0) {
        return 1;
    }
    if (strcmp(line, "reload") == 0) {
        *proxy = hot_reload(*proxy);
        return *proxy == NULL;
    }
    if (strcmp(line, "pause") == 0 || strcmp(line, "resume") == 0) {
        ins = arg ? find_instance(*proxy, arg) : NULL;
        if (ins == NULL) {
            host_diag("%s: unknown instance \"%s\"", line, arg ? arg : "");
            return 0;
        }
        if (line[0] == 'p') {
            instance_pause(ins);
        } else {
            instance_resume(ins);
        }
        return 0;
    }
    host_diag("unknown command \"%s\"; use pause NAME, resume NAME, reload or stop", line);
    return 0;
}

/* Serves stdin commands, signals and the duration limit until shutdown. */
static struct host_proxy *main_loop(struct host_proxy *proxy)
{
    char line[4096];
    size_t line_len = 0;
    int stdin_open = 1;
    int64_t deadline = 0;

    if (options.duration_ms > 0) {
        deadline = monotonic_ns() + options.duration_ms * 1000000;
    }
    for (;;) {
        struct pollfd fds[2] = {
            {.fd = event_pipe[0], .events = POLLIN},
            {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
        };
        int timeout = -1;

        if (deadline > 0) {
            int64_t left = deadline - monotonic_ns();

            if (left <= 0) {
                return proxy;
            }
            timeout = (int)((left + 999999) / 1000000);
        }
        if (poll(fds, 2, timeout) < 0) {
            if (errno == EINTR) {
                continue;
            }
            host_diag("poll failed: %s", strerror(errno));
            return proxy;
        }
        if (fds[0].revents & POLLIN) {
            char event;

            if (read(event_pipe[0], &event, 1) == 1) {
                if (event == 'S') {
                    return proxy;
                }
                if (event == 'H') {
                    proxy = hot_reload(proxy);
                    if (proxy == NULL) {
                        return NULL;
                    }
                }
            }
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(STDIN_FILENO, line + line_len, sizeof(line) - 1 - line_len);
            char *nl;

            if (n <= 0) {
                /* EOF on stdin changes nothing; tests stop with a command or signal. */
                stdin_open = 0;
                continue;
            }
            line_len += (size_t)n;
            line[line_len] = '\0';
            while ((nl = strchr(line, '\n')) != NULL) {
                size_t used = (size_t)(nl - line) + 1;

                *nl = '\0';
                if (run_command(&proxy, line)) {
                    return proxy;
                }
                memmove(line, line + used, line_len - used + 1);
                line_len -= used;
            }
            if (line_len == sizeof(line) - 1) {
                host_diag("stdin command longer than %zu bytes dropped", sizeof(line) - 1);
                line_len = 0;
            }
        }
    }
}

static int finish(void)
{
    size_t leaked = leak_outstanding();
    int code = EXIT_OK;

    pthread_mutex_lock(&engine_lock);
    fprintf(stderr,
            "[flbhost] summary {\"records\":%" PRIu64 ",\"buffers\":%" PRIu64
            ",\"bytes\":%" PRIu64 ",\"max_buffer_bytes\":%" PRIu64
            ",\"invalid_buffers\":%" PRIu64 ",\"dropped_paused_records\":%" PRIu64
            ",\"leaked_buffers\":%zu,\"init_failed\":%d}\n",
            stats.records, stats.buffers, stats.bytes, stats.max_buffer_bytes,
            stats.invalid_buffers, stats.dropped_paused_records, leaked, stats.init_failed);
    fflush(stderr);
    if (stats.init_failed) {
        code = EXIT_INIT_FAILED;
    } else if (stats.invalid_buffers > 0) {
        code = EXIT_INVALID_BUFFER;
    } else if (leaked > 0) {
        code = EXIT_LEAKED_BUFFER;
    } else if (stats.dropped_paused_records > 0) {
        code = EXIT_DROPPED_PAUSED;
    }
    pthread_mutex_unlock(&engine_lock);
    return code;
}

int main(int argc, char **argv)
{
    struct host_proxy *proxy;

    parse_args(argc, argv);

    if (options.out_path != NULL) {
        out_fd = open(options.out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (out_fd < 0) {
            usage_error("cannot open --out \"%s\": %s", options.out_path, strerror(errno));
        }
    }
    if (pipe2(event_pipe, O_CLOEXEC) != 0) {
        host_diag("pipe failed: %s", strerror(errno));
        return EXIT_USAGE;
    }

    /* Fluent Bit installs its handlers with signal() before it loads plugins. */
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    signal(SIGQUIT, on_stop_signal);
    signal(SIGHUP, on_hup_signal);

    proxy = proxy_load(0);
    if (proxy == NULL) {
        log_unknown_plugin();
        stats.init_failed = 1;
        return finish();
    }
    if (instances_start(proxy) != 0) {
        stats.init_failed = 1;
        proxy_unload(proxy);
        return finish();
    }

    proxy = main_loop(proxy);
    if (proxy != NULL) {
        instances_stop(proxy);
        proxy_unload(proxy);
    }
    return finish();
}
