package shipcheck

import (
	"debug/elf"
	"fmt"
	"strconv"
	"strings"
)

// GLIBCVersion is a glibc symbol version such as GLIBC_2.34, as major and minor numbers. A
// third component (GLIBC_2.3.2) only ever refines an old minor version, so it is ignored.
type GLIBCVersion struct{ Major, Minor int }

// String returns the version in the form the dynamic linker prints, such as GLIBC_2.34.
func (v GLIBCVersion) String() string { return fmt.Sprintf("GLIBC_%d.%d", v.Major, v.Minor) }

// Less reports whether v is older than w.
func (v GLIBCVersion) Less(w GLIBCVersion) bool {
	return v.Major < w.Major || (v.Major == w.Major && v.Minor < w.Minor)
}

// ParseGLIBCVersion parses a version name such as GLIBC_2.34. ok is false for names of other
// version namespaces, such as GLIBC_PRIVATE or GCC_3.0.
func ParseGLIBCVersion(name string) (v GLIBCVersion, ok bool) {
	rest, found := strings.CutPrefix(name, "GLIBC_")
	if !found {
		return v, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) < 2 {
		return v, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return v, false
	}
	return GLIBCVersion{major, minor}, true
}

// RequiredGLIBC returns, for each glibc symbol version the shared object at path needs, one
// dynamic symbol that needs it.
func RequiredGLIBC(path string) (map[GLIBCVersion]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("shipcheck: %w", err)
	}
	defer f.Close()
	symbols, err := f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("shipcheck: dynamic symbols of %s: %w", path, err)
	}
	out := map[GLIBCVersion]string{}
	for _, sym := range symbols {
		if sym.Section != elf.SHN_UNDEF {
			continue
		}
		if v, ok := ParseGLIBCVersion(sym.Version); ok {
			if _, seen := out[v]; !seen {
				out[v] = sym.Name
			}
		}
	}
	return out, nil
}
