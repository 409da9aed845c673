/*
 * Leak detection for the buffers a plugin's collect callback returns.
 *
 * The host is linked with -rdynamic and defines free(), so the plugin's
 * free() calls (cgo's C.free, and Fluent Bit's own free() of a buffer when no
 * cleanup callback is exported) bind to this definition. It forwards every
 * pointer to glibc's __libc_free unchanged, so memory behaves as in Fluent
 * Bit; on the way it forgets pointers that leak_track recorded. A pointer
 * still recorded at exit was never freed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flbhost.h"

extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t n, size_t size);

/* Open-addressing set of tracked pointers; 0 marks an empty slot. */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *table;
static size_t table_cap;
static size_t table_len;

/* Read without the lock so free() stays cheap while nothing is tracked. */
static atomic_size_t tracked;

static size_t slot_of(uintptr_t p, size_t cap)
{
    return (size_t)((p >> 4) * 11400714819323198485ull) & (cap - 1);
}

/* Inserts p; returns 0 when it was already present. */
static int table_insert(uintptr_t *t, size_t cap, uintptr_t p)
{
    size_t i = slot_of(p, cap);

    while (t[i] != 0 && t[i] != p) {
        i = (i + 1) & (cap - 1);
    }
    if (t[i] == p) {
        return 0;
    }
    t[i] = p;
    return 1;
}

static int table_grow(void)
{
    size_t cap = table_cap ? table_cap * 2 : 1024;
    /* __libc_calloc and __libc_free keep this out of the interposed free(). */
    uintptr_t *t = __libc_calloc(cap, sizeof(*t));

    if (t == NULL) {
        return -1;
    }
    for (size_t i = 0; i < table_cap; i++) {
        if (table[i] != 0) {
            table_insert(t, cap, table[i]);
        }
    }
    __libc_free(table);
    table = t;
    table_cap = cap;
    return 0;
}

/* Removes p with backward-shift deletion so probe chains stay intact. */
static int table_remove(uintptr_t p)
{
    size_t i;
    size_t j;

    if (table_cap == 0) {
        return 0;
    }
    i = slot_of(p, table_cap);
    while (table[i] != p) {
        if (table[i] == 0) {
            return 0;
        }
        i = (i + 1) & (table_cap - 1);
    }
    table[i] = 0;
    j = i;
    for (;;) {
        size_t home;
        int home_between;

        j = (j + 1) & (table_cap - 1);
        if (table[j] == 0) {
            break;
        }
        home = slot_of(table[j], table_cap);
        /* table[j] may fill the hole unless its home slot lies cyclically in (i, j]. */
        if (i <= j) {
            home_between = i < home && home <= j;
        } else {
            home_between = i < home || home <= j;
        }
        if (!home_between) {
            table[i] = table[j];
            table[j] = 0;
            i = j;
        }
    }
    return 1;
}

/* Records ptr as a buffer handed over by the plugin that must be freed. */
void leak_track(void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;

    if (ptr == NULL) {
        return;
    }
    pthread_mutex_lock(&table_lock);
    if ((table_len + 1) * 2 > table_cap && table_grow() != 0) {
        pthread_mutex_unlock(&table_lock);
        host_diag("out of memory tracking buffer %p; leak count will be low", ptr);
        return;
    }
    /* The same unfreed address handed over twice counts as one leak. */
    if (table_insert(table, table_cap, p)) {
        table_len++;
    }
    atomic_store(&tracked, table_len);
    pthread_mutex_unlock(&table_lock);
}

/* Returns how many tracked buffers were never freed. */
size_t leak_outstanding(void)
{
    size_t n;

    pthread_mutex_lock(&table_lock);
    n = table_len;
    pthread_mutex_unlock(&table_lock);
    return n;
}

/* Interposes libc free(); see the file comment. */
void free(void *ptr)
{
    if (ptr != NULL && atomic_load(&tracked) != 0) {
        pthread_mutex_lock(&table_lock);
        if (table_remove((uintptr_t)ptr)) {
            table_len--;
            atomic_store(&tracked, table_len);
        }
        pthread_mutex_unlock(&table_lock);
    }
    __libc_free(ptr);
}
