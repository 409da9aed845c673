/*
 * Mirrors of the Fluent Bit 5.x structures the okta input reads and writes, and small shims
 * for what cgo cannot do itself (variadic calls, pointer-sized handles).
 *
 * Layouts follow Fluent Bit 5.1 (src/proxy/go/go.h, include/fluent-bit/flb_api.h,
 * include/fluent-bit/flb_plugin_proxy.h). fluent-bit-go's input header mirrors the proxy
 * context with remote_context at offset 0, which is the output layout. For inputs it sits at
 * offset 8, after coll_fd, since Fluent Bit 4.1.
 */
#ifndef FLB_OKTA_H
#define FLB_OKTA_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

struct okta_flb_api {
    void *output_get_property;
    const char *(*input_get_property)(const char *key, void *ins);
    void *output_get_cmt_instance;
    void *input_get_cmt_instance;
    void (*log_print)(int level, const char *file, int line, const char *fmt, ...);
    int (*input_log_check)(void *ins, int level);
    void *output_log_check;
    void *custom_get_property;
    void *custom_log_check;
};

struct okta_input_proxy_context {
    int coll_fd;
    void *remote_context;
    void *proxy;
};

struct okta_go_input_plugin {
    char *name;
    struct okta_flb_api *api;
    void *i_ins;
    struct okta_input_proxy_context *context;
    void *cb_init;
    void *cb_collect;
    void *cb_collect_ctx; /* since 4.1; before it this slot held cb_cleanup */
};

/*
 * Reports whether Fluent Bit resolved FLBPluginInputCallbackCtx, which means the 4.1 layout:
 * before 4.1 the slot after cb_collect held the plain cleanup callback, which this plugin does
 * not export, so it reads NULL there, and the context had no remote_context field.
 */
static inline int okta_has_context_callbacks(void *plugin)
{
    return ((struct okta_go_input_plugin *) plugin)->cb_collect_ctx != NULL;
}

static inline void *okta_plugin_api(void *plugin)
{
    return ((struct okta_go_input_plugin *) plugin)->api;
}

static inline void *okta_plugin_instance(void *plugin)
{
    return ((struct okta_go_input_plugin *) plugin)->i_ins;
}

static inline const char *okta_get_property(void *plugin, const char *key)
{
    struct okta_go_input_plugin *p = plugin;
    return p->api->input_get_property(key, p->i_ins);
}

/*
 * Returns the instance's name as Fluent Bit logs it (the alias, or the numbered name such as
 * okta.1), through flb_input_name, which the fluent-bit executable exports. It is not part of
 * the proxy ABI, so NULL means the symbol was not found.
 */
static inline const char *okta_instance_name(void *ins)
{
    const char *(*name)(void *) = (const char *(*)(void *)) dlsym(RTLD_DEFAULT, "flb_input_name");
    if (name == NULL || ins == NULL) {
        return NULL;
    }
    return name(ins);
}

/* Stores a runtime/cgo.Handle, an integer, as the instance's remote_context. */
static inline int okta_set_remote_context(void *plugin, uintptr_t handle)
{
    struct okta_go_input_plugin *p = plugin;
    if (p->context == NULL) {
        return -1;
    }
    p->context->remote_context = (void *) handle;
    return 0;
}

static inline uintptr_t okta_handle(void *remote_context)
{
    return (uintptr_t) remote_context;
}

/* log_print is variadic; the message is always passed through a fixed "%s" format. */
static inline void okta_log(void *api, int level, const char *msg)
{
    ((struct okta_flb_api *) api)->log_print(level, "in_okta", 0, "%s", msg);
}

static inline int okta_log_check(void *api, void *ins, int level)
{
    struct okta_flb_api *a = api;
    if (a->input_log_check == NULL) {
        return 1;
    }
    return a->input_log_check(ins, level);
}

#endif
