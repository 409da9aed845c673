package mockokta

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a server or client goroutine running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
