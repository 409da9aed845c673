//go:build !nocleanup

package main

// Built with -tags nocleanup the fixture exports no cleanup callback, so the
// host must free each buffer itself, as Fluent Bit does.

// #include <stdlib.h>
import "C"

import "unsafe"

//export FLBPluginInputCleanupCallbackCtx
func FLBPluginInputCleanupCallbackCtx(ctx unsafe.Pointer, data unsafe.Pointer) C.int {
	in := instanceOf(ctx)
	if in != nil && in.leaked[data] {
		return 0
	}
	C.free(data)
	return 0
}
