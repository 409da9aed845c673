// Command fakeplugin is a test fixture: a Go input plugin for flbhost's own
// tests. It is not the Okta plugin. Properties choose its behavior:
//
//	label            name stored in every record (default "unnamed")
//	format           v2 (default) or v1 record shape
//	records_per_collect  records per buffer (default 2)
//	total_records    records to emit in all, then empty collects (default 4)
//	malformed_at     1-based collect number that returns an invalid buffer
//	malformed        kind of invalid buffer: ext-1 (default), truncated, bin
//	leak_at          1-based collect number whose buffer the cleanup keeps
//	fail_collect_at  1-based collect number that returns -1 with a buffer set
//	fail_init        "true" makes FLBPluginInit return 0 (FLB_ERROR)
//	log_all          "true" logs one line at each level during Init
//	echo_keys        comma-separated keys whose values each record carries
//	raw_hex          bytes, in hex, that the first collect returns as is
//
// FAKE_PLUGIN_REGISTER_FAIL set to any value makes FLBPluginRegister fail.
// When FAKE_PLUGIN_EVENTS names a file, every callback appends one line
// "<callback> <label> <argument>" to it so tests can check the call order.
package main

/*
#include <stdint.h>
#include <stdlib.h>

struct fake_api {
	void *output_get_property;
	const char *(*input_get_property)(const char *, void *);
	void *output_get_cmt_instance;
	void *input_get_cmt_instance;
	void (*log_print)(int, const char *, int, const char *, ...);
	int (*input_log_check)(void *, int);
};

struct fake_context {
	int coll_fd;
	void *remote_context;
	void *proxy;
};

struct fake_plugin {
	char *name;
	struct fake_api *api;
	void *i_ins;
	struct fake_context *context;
};

struct fake_def {
	int type;
	int proxy;
	int flags;
	char *name;
	char *description;
};

static const char *fake_get_property(struct fake_plugin *p, const char *key)
{
	return p->api->input_get_property(key, p->i_ins);
}

static void fake_set_context(struct fake_plugin *p, uintptr_t handle)
{
	p->context->remote_context = (void *)handle;
}

static void fake_log(struct fake_api *api, void *ins, int level, const char *msg)
{
	if (api->input_log_check(ins, level)) {
		api->log_print(level, "fakeplugin", 0, "%s", msg);
	}
}
*/
import "C"

import (
	"encoding/hex"
	"fmt"
	"os"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// Fluent Bit's return codes and log levels.
const (
	flbError = 0
	flbOK    = 1

	logError = 1
	logWarn  = 2
	logInfo  = 3
	logDebug = 4
	logTrace = 5
)

// baseSeconds is the EventTime of the first record; record n adds n seconds.
const baseSeconds = 1747210365

type instance struct {
	label       string
	format      string
	perCollect  int
	total       int
	malformedAt int
	malformed   string
	leakAt      int
	failAt      int
	echoKeys    []string
	echoValues  []*string
	raw         []byte

	api *C.struct_fake_api
	ins unsafe.Pointer

	handle   cgo.Handle
	collects int
	emitted  int
	leaked   map[unsafe.Pointer]bool
}

var (
	mu        sync.Mutex
	byThread  = map[int]*instance{}
	eventLock sync.Mutex
)

func event(name string, label string, arg string) {
	path := os.Getenv("FAKE_PLUGIN_EVENTS")
	if path == "" {
		return
	}
	eventLock.Lock()
	defer eventLock.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s %s\n", name, label, arg)
}

func threadInstance() *instance {
	mu.Lock()
	defer mu.Unlock()
	return byThread[syscall.Gettid()]
}

func labelOf(in *instance) string {
	if in == nil {
		return "?"
	}
	return in.label
}

func (in *instance) log(level int, msg string) {
	cmsg := C.CString(msg)
	defer C.free(unsafe.Pointer(cmsg))
	C.fake_log(in.api, in.ins, C.int(level), cmsg)
}

//export FLBPluginPreRegister
func FLBPluginPreRegister(hotReloading C.int) C.int {
	event("pre_register", "-", strconv.Itoa(int(hotReloading)))
	return 0
}

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) C.int {
	if os.Getenv("FAKE_PLUGIN_REGISTER_FAIL") != "" {
		event("register", "-", "fail")
		return -1
	}
	d := (*C.struct_fake_def)(def)
	d._type = 1
	d.proxy = 11
	d.flags = 0
	d.name = C.CString("fake")
	d.description = C.CString("flbhost test fixture")
	event("register", "-", "-")
	return 0
}

//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) {
	d := (*C.struct_fake_def)(def)
	C.free(unsafe.Pointer(d.name))
	C.free(unsafe.Pointer(d.description))
	d.name = nil
	d.description = nil
	event("unregister", "-", "-")
}

func property(p *C.struct_fake_plugin, key string) *string {
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	v := C.fake_get_property(p, ckey)
	if v == nil {
		return nil
	}
	s := C.GoString(v)
	return &s
}

func intProperty(p *C.struct_fake_plugin, key string, def int) int {
	v := property(p, key)
	if v == nil {
		return def
	}
	n, err := strconv.Atoi(*v)
	if err != nil {
		return def
	}
	return n
}

func stringProperty(p *C.struct_fake_plugin, key string, def string) string {
	v := property(p, key)
	if v == nil {
		return def
	}
	return *v
}

//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) C.int {
	p := (*C.struct_fake_plugin)(plugin)
	in := &instance{
		label:       stringProperty(p, "label", "unnamed"),
		format:      stringProperty(p, "format", "v2"),
		perCollect:  intProperty(p, "records_per_collect", 2),
		total:       intProperty(p, "total_records", 4),
		malformedAt: intProperty(p, "malformed_at", 0),
		malformed:   stringProperty(p, "malformed", "ext-1"),
		leakAt:      intProperty(p, "leak_at", 0),
		failAt:      intProperty(p, "fail_collect_at", 0),
		api:         p.api,
		ins:         p.i_ins,
		leaked:      map[unsafe.Pointer]bool{},
	}
	if keys := stringProperty(p, "echo_keys", ""); keys != "" {
		in.echoKeys = strings.Split(keys, ",")
		for _, k := range in.echoKeys {
			in.echoValues = append(in.echoValues, property(p, k))
		}
	}
	if raw := stringProperty(p, "raw_hex", ""); raw != "" {
		b, err := hex.DecodeString(raw)
		if err != nil {
			in.log(logError, "[input:fake:"+in.label+"] invalid raw_hex: "+err.Error())
			return flbError
		}
		in.raw = b
	}
	event("init", in.label, C.GoString(p.name))

	if stringProperty(p, "log_all", "") == "true" {
		in.log(logError, "[input:fake:"+in.label+"] message at error")
		in.log(logWarn, "[input:fake:"+in.label+"] message at warn")
		in.log(logInfo, "[input:fake:"+in.label+"] message at info")
		in.log(logDebug, "[input:fake:"+in.label+"] message at debug")
		in.log(logTrace, "[input:fake:"+in.label+"] message at trace")
		in.log(logInfo, "percent %s %d stays literal")
	}
	if stringProperty(p, "fail_init", "") == "true" {
		in.log(logError, "[input:fake:"+in.label+"] fail_init is true")
		return flbError
	}

	in.handle = cgo.NewHandle(in)
	C.fake_set_context(p, C.uintptr_t(in.handle))
	mu.Lock()
	byThread[syscall.Gettid()] = in
	mu.Unlock()
	return flbOK
}

//export FLBPluginInputPreRun
func FLBPluginInputPreRun(hotReload C.int) C.int {
	event("pre_run", labelOf(threadInstance()), strconv.Itoa(int(hotReload)))
	return 0
}

//export FLBPluginInputPause
func FLBPluginInputPause() {
	event("pause", labelOf(threadInstance()), "-")
}

//export FLBPluginInputResume
func FLBPluginInputResume() {
	event("resume", labelOf(threadInstance()), "-")
}

//export FLBPluginInputPreExit
func FLBPluginInputPreExit(hotReloading C.int) {
	event("pre_exit", labelOf(threadInstance()), strconv.Itoa(int(hotReloading)))
}

//export FLBPluginExit
func FLBPluginExit() C.int {
	in := threadInstance()
	event("exit", labelOf(in), "-")
	if in != nil {
		mu.Lock()
		delete(byThread, syscall.Gettid())
		mu.Unlock()
		in.handle.Delete()
	}
	return flbOK
}

func instanceOf(ctx unsafe.Pointer) *instance {
	if ctx == nil {
		return nil
	}
	in, _ := cgo.Handle(uintptr(ctx)).Value().(*instance)
	return in
}

//export FLBPluginInputCallbackCtx
func FLBPluginInputCallbackCtx(ctx unsafe.Pointer, data *unsafe.Pointer, size *C.size_t) C.int {
	in := instanceOf(ctx)
	*data = nil
	*size = 0
	if in == nil {
		event("collect", "?", "nil-context")
		return -1
	}
	in.collects++
	threadOK := threadInstance() == in

	var buf []byte
	if in.collects == 1 && in.raw != nil {
		buf = in.raw
	} else if in.collects == in.malformedAt {
		buf = malformedBuffer(in.malformed)
	} else {
		for i := 0; i < in.perCollect && in.emitted < in.total; i++ {
			buf = in.appendRecord(buf, threadOK)
			in.emitted++
		}
	}
	if len(buf) == 0 {
		return 0
	}
	p := C.CBytes(buf)
	if in.collects == in.leakAt {
		in.leaked[p] = true
	}
	*data = p
	*size = C.size_t(len(buf))
	if in.collects == in.failAt {
		return -1
	}
	return 0
}

func (in *instance) appendRecord(buf []byte, threadOK bool) []byte {
	seq := in.emitted
	if in.format == "v2" {
		buf = append(buf, 0x92, 0x92)
		buf = appendEventTime(buf, uint32(baseSeconds+seq), 118000000)
		buf = append(buf, 0x80)
	} else {
		buf = append(buf, 0x92)
		buf = appendEventTime(buf, uint32(baseSeconds+seq), 118000000)
	}
	fields := 4 + len(in.echoKeys)
	buf = append(buf, 0xde, byte(fields>>8), byte(fields))
	buf = appendString(buf, "label")
	buf = appendString(buf, in.label)
	buf = appendString(buf, "seq")
	buf = appendInt(buf, int64(seq))
	buf = appendString(buf, "thread_ok")
	buf = appendBool(buf, threadOK)
	buf = appendString(buf, "text")
	buf = appendString(buf, "quote\" backslash\\ tab\t é ✓")
	for i, k := range in.echoKeys {
		buf = appendString(buf, "echo_"+k)
		if in.echoValues[i] == nil {
			buf = append(buf, 0xc0)
		} else {
			buf = appendString(buf, *in.echoValues[i])
		}
	}
	return buf
}

func malformedBuffer(kind string) []byte {
	var buf []byte
	switch kind {
	case "truncated":
		buf = append(buf, 0x92, 0x92)
		buf = appendEventTime(buf, baseSeconds, 0)
		buf = append(buf, 0x80, 0x81)
		buf = appendString(buf, "k")
	case "bin":
		buf = append(buf, 0x92, 0x92)
		buf = appendEventTime(buf, baseSeconds, 0)
		buf = append(buf, 0x80, 0x81)
		buf = appendString(buf, "k")
		buf = append(buf, 0xc4, 0x01, 0x00)
	default:
		// msgpack timestamp extension (type -1), as Go codecs write time.Time.
		buf = append(buf, 0x92, 0xd6, 0xff, 0x68, 0x24, 0x9c, 0x3d, 0x80)
	}
	return buf
}

func appendEventTime(buf []byte, sec uint32, nsec uint32) []byte {
	buf = append(buf, 0xd7, 0x00)
	buf = append(buf, byte(sec>>24), byte(sec>>16), byte(sec>>8), byte(sec))
	return append(buf, byte(nsec>>24), byte(nsec>>16), byte(nsec>>8), byte(nsec))
}

func appendString(buf []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		buf = append(buf, 0xa0|byte(n))
	case n < 256:
		buf = append(buf, 0xd9, byte(n))
	default:
		buf = append(buf, 0xda, byte(n>>8), byte(n))
	}
	return append(buf, s...)
}

func appendInt(buf []byte, v int64) []byte {
	u := uint64(v)
	return append(buf, 0xd3, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
		byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

func appendBool(buf []byte, v bool) []byte {
	if v {
		return append(buf, 0xc3)
	}
	return append(buf, 0xc2)
}

func main() {}
