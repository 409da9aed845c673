// Command in_okta is the Fluent Bit input plugin "okta", built as a shared object with
// go build -buildmode=c-shared. This package holds only the exported FLBPlugin* functions; the
// work happens in internal/input.
//
// It needs Fluent Bit 4.1 or later, which passes each instance's remote_context to the collect
// and cleanup callbacks.
package main

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "flb_okta.h"
*/
import "C"

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/cgo"
	"runtime/debug"
	"sync"
	"syscall"
	"unsafe"

	"github.com/fluent/fluent-bit-go/input"

	"github.com/edgeaudit/fluent-bit-okta/internal/flblog"
	okta "github.com/edgeaudit/fluent-bit-okta/internal/input"
)

const (
	pluginName        = "okta"
	pluginDescription = "Okta System Log (service app, private_key_jwt, DPoP)"
)

// instance is the per-instance state that remote_context refers to.
type instance struct {
	input    *okta.Input
	logs     *flblog.Queue
	name     string
	inFlight int // records of the buffer Fluent Bit holds between collect and cleanup
	handle   cgo.Handle
}

// threads maps the OS thread of each instance to it, for the callbacks Fluent Bit calls without a
// context (Pause, Resume, PreExit, Exit). Fluent Bit runs every callback of an instance on that
// instance's own thread, the one that ran its Init.
var threads sync.Map // int (thread id) -> *instance

type sink struct {
	api, ins unsafe.Pointer
}

func (s sink) Write(level int, msg string) {
	cmsg := C.CString(msg)
	C.okta_log(s.api, C.int(level), cmsg)
	C.free(unsafe.Pointer(cmsg))
}

func (s sink) Enabled(level int) bool {
	return C.okta_log_check(s.api, s.ins, C.int(level)) != 0
}

//export FLBPluginPreRegister
func FLBPluginPreRegister(hotReloading C.int) C.int {
	return 0
}

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) C.int {
	nextID.Lock()
	nextID.n = 0
	nextID.Unlock()
	return C.int(input.FLBPluginRegister(def, pluginName, pluginDescription))
}

//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) (ret C.int) {
	api := C.okta_plugin_api(plugin)
	ins := C.okta_plugin_instance(plugin)
	name := instanceName(ins)
	handler, logs := flblog.NewHandler(fmt.Sprintf("[input:%s:%s] ", pluginName, name),
		sink{api: api, ins: ins})
	defer logs.Flush()
	logger := slog.New(handler)
	defer func() {
		if r := recover(); r != nil {
			logger.Error(fmt.Sprintf("internal error during initialization: %v", r))
			ret = input.FLB_ERROR
		}
	}()

	get := func(key string) string {
		ckey := C.CString(key)
		defer C.free(unsafe.Pointer(ckey))
		return C.GoString(C.okta_get_property(plugin, ckey))
	}
	if C.okta_has_context_callbacks(plugin) == 0 {
		logger.Error("Fluent Bit did not load FLBPluginInputCallbackCtx; this plugin needs " +
			"Fluent Bit 4.1 or later")
		return input.FLB_ERROR
	}
	in, err := okta.New(name, get, logger)
	if err != nil {
		logger.Error(err.Error())
		return input.FLB_ERROR
	}
	inst := &instance{input: in, logs: logs, name: name}
	handle := cgo.NewHandle(inst)
	inst.handle = handle
	if C.okta_set_remote_context(plugin, C.uintptr_t(handle)) != 0 {
		handle.Delete()
		in.Stop()
		logger.Error("Fluent Bit passed no input context; this plugin needs Fluent Bit 4.1 or later")
		return input.FLB_ERROR
	}
	// Fluent Bit runs a Go input on its own thread unless "threaded off" moves it to the
	// engine thread, where Pause and Exit could not tell the instances apart.
	if _, taken := threads.LoadOrStore(syscall.Gettid(), inst); taken {
		handle.Delete()
		in.Stop()
		logger.Error("this input needs its own thread, but another okta input already runs " +
			"on it; remove \"threaded off\" from the [INPUT] sections")
		return input.FLB_ERROR
	}
	in.Start()
	return input.FLB_OK
}

// nextID numbers the instances of the current configuration in Init order, the fallback name
// when Fluent Bit does not export flb_input_name. Register resets it, because a hot reload
// registers the plugin again before the new Inits.
var nextID struct {
	sync.Mutex
	n int
}

// instanceName returns the name Fluent Bit uses for the instance in its own log lines.
func instanceName(ins unsafe.Pointer) string {
	nextID.Lock()
	defer nextID.Unlock()
	fallback := fmt.Sprintf("%s.%d", pluginName, nextID.n)
	nextID.n++
	if name := C.okta_instance_name(ins); name != nil {
		if s := C.GoString(name); s != "" {
			return s
		}
	}
	return fallback
}

func fromContext(ctx unsafe.Pointer) *instance {
	if ctx == nil {
		return nil
	}
	inst, _ := cgo.Handle(C.okta_handle(ctx)).Value().(*instance)
	return inst
}

func fromThread() *instance {
	v, ok := threads.Load(syscall.Gettid())
	if !ok {
		return nil
	}
	return v.(*instance)
}

//export FLBPluginInputPreRun
func FLBPluginInputPreRun(hotReload C.int) C.int {
	return 0
}

//export FLBPluginInputCallbackCtx
func FLBPluginInputCallbackCtx(ctx unsafe.Pointer, data *unsafe.Pointer, size *C.size_t) C.int {
	*data, *size = nil, 0
	inst := fromContext(ctx)
	if inst == nil {
		return input.FLB_OK
	}
	defer inst.logs.Flush()
	defer inst.recoverPanic("collect callback")
	batch := inst.input.Take()
	if batch == nil {
		return input.FLB_OK
	}
	buf := C.malloc(C.size_t(batch.Bytes))
	if buf == nil {
		inst.input.Abort()
		return input.FLB_OK
	}
	out := unsafe.Slice((*byte)(buf), batch.Bytes)
	n := 0
	for _, seg := range batch.Segments {
		n += copy(out[n:], seg)
	}
	*data, *size = buf, C.size_t(n)
	inst.inFlight = batch.Records
	return input.FLB_OK
}

//export FLBPluginInputCleanupCallbackCtx
func FLBPluginInputCleanupCallbackCtx(ctx unsafe.Pointer, data unsafe.Pointer) C.int {
	// Fluent Bit calls this right after it copied the buffer, and frees nothing itself once a
	// cleanup callback exists.
	// NOTE: the copy sits in the input's ring buffer until the engine thread stores it, and
	// Fluent Bit 5.1 drops it then if mem_buf_limit, a storage limit or a rate gate paused the
	// input meanwhile. The plugin cannot see that drop; the README names the settings.
	C.free(data)
	inst := fromContext(ctx)
	if inst == nil {
		return input.FLB_OK
	}
	defer inst.logs.Flush()
	defer inst.recoverPanic("cleanup callback")
	inst.input.Handed(inst.inFlight)
	inst.inFlight = 0
	return input.FLB_OK
}

//export FLBPluginInputPause
func FLBPluginInputPause() {
	if inst := fromThread(); inst != nil {
		defer inst.logs.Flush()
		inst.input.Pause()
	}
}

//export FLBPluginInputResume
func FLBPluginInputResume() {
	if inst := fromThread(); inst != nil {
		defer inst.logs.Flush()
		inst.input.Resume()
	}
}

//export FLBPluginInputPreExit
func FLBPluginInputPreExit(hotReloading C.int) {
	if inst := fromThread(); inst != nil {
		defer inst.logs.Flush()
		inst.input.Pause()
	}
}

//export FLBPluginExit
func FLBPluginExit() C.int {
	tid := syscall.Gettid()
	v, ok := threads.LoadAndDelete(tid)
	if !ok {
		return input.FLB_OK
	}
	inst := v.(*instance)
	defer inst.logs.Flush()
	defer inst.recoverPanic("exit")
	inst.input.Stop()
	// Fluent Bit calls no callback of the instance after Exit.
	inst.handle.Delete()
	return input.FLB_OK
}

//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) {
	input.FLBPluginUnregister(def)
}

func (inst *instance) recoverPanic(where string) {
	if r := recover(); r != nil {
		inst.input.Logger.Error(fmt.Sprintf("internal error in the %s: %v", where, r))
	}
}

// init lowers the garbage collector's target when GOGC is not set. The plugin's heap is mostly
// page buffers of a few MB that live for seconds, and Go's default of 100 lets the heap reach
// twice what is live. At backfill speed the host process peaked at 59.7 MB with the default
// and at 50.7 MB with 50, for the same CPU time (12,000 events with original_data, through
// tests/host on this project's 2-core test machine). GOGC in Fluent Bit's environment wins.
func init() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
}

func main() {}
