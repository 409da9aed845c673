package record

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// MaxDepth is the maximum nesting of arrays and objects in an event, the event object itself
// counting as depth 1. Okta's deepest documented path, request.ipChain[].ipDetails
// .ipServiceCategories[], is seven levels deep.
const MaxDepth = 64

// linearKeyLimit is the member count of an object above which duplicate keys are found with a
// map instead of comparing each new key with every earlier one.
const linearKeyLimit = 32

// SyntaxError is a page or event that is not valid JSON or not the expected shape.
type SyntaxError struct {
	Offset int    // byte offset in the input where the problem was found
	Msg    string // what is wrong
}

// Error returns the message with the byte offset.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("record: invalid JSON at byte offset %d: %s", e.Offset, e.Msg)
}

// member is one key and value of the object being transcoded, as offsets into the output.
type member struct {
	start, end       int // the encoded key and value
	keyStart, keyEnd int // the key's UTF-8 bytes
	dropped          bool
}

// transcoder validates JSON and converts it to msgpack in one pass over the input. The zero
// value is ready to use, and a transcoder can be reused to keep its buffers.
type transcoder struct {
	in      []byte
	pos     int
	out     []byte
	scratch []byte   // unescaped string
	members []member // members of every open object, innermost last
}

func (t *transcoder) fail(format string, args ...any) error {
	return &SyntaxError{Offset: t.pos, Msg: fmt.Sprintf(format, args...)}
}

// describe returns the byte at the current position for an error message.
func (t *transcoder) describe() string {
	if t.pos >= len(t.in) {
		return "end of input"
	}
	return fmt.Sprintf("character %q", t.in[t.pos])
}

func (t *transcoder) skipSpace() {
	for t.pos < len(t.in) {
		switch t.in[t.pos] {
		case ' ', '\t', '\n', '\r':
			t.pos++
		default:
			return
		}
	}
}

// value transcodes the JSON value at the current position. depth is the nesting of the value.
func (t *transcoder) value(depth int) error {
	t.skipSpace()
	if t.pos >= len(t.in) {
		return t.fail("unexpected end of input, expected a value")
	}
	switch c := t.in[t.pos]; c {
	case '{':
		if depth > MaxDepth {
			return t.fail("nesting deeper than %d levels", MaxDepth)
		}
		_, err := t.object(depth, nil)
		return err
	case '[':
		if depth > MaxDepth {
			return t.fail("nesting deeper than %d levels", MaxDepth)
		}
		return t.array(depth)
	case '"':
		_, _, err := t.str()
		return err
	case 't':
		return t.literal("true", mpTrue)
	case 'f':
		return t.literal("false", mpFalse)
	case 'n':
		return t.literal("null", mpNil)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return t.number()
		}
		return t.fail("invalid %s, expected a value", t.describe())
	}
}

func (t *transcoder) literal(word string, code byte) error {
	if !bytes.HasPrefix(t.in[t.pos:], []byte(word)) {
		return t.fail("invalid literal, expected %q", word)
	}
	t.pos += len(word)
	t.out = append(t.out, code)
	return nil
}

// topLevelHook is called for each member of the event object after its value was written,
// with the member's key, and the payload offsets of the value if it is a string (else -1).
// It returns false to remove the member from the output.
type topLevelHook func(key []byte, strStart, strEnd int) bool

// object transcodes the object at the current position and returns its member count after
// duplicate keys were removed. With hook set, which is only for the event object, no map
// header is written: the caller writes it, because it adds its own fields.
func (t *transcoder) object(depth int, hook topLevelHook) (int, error) {
	t.pos++ // '{'
	headerAt := len(t.out)
	if hook == nil {
		t.out = append(t.out, 0) // room for a fixmap header, widened below if needed
	}
	base := len(t.members)
	defer func() { t.members = t.members[:base] }()

	var keys keySet
	dropped := 0

	t.skipSpace()
	if t.pos < len(t.in) && t.in[t.pos] == '}' {
		t.pos++
		return t.finishContainer(headerAt, hook == nil, mpFixMap, 0), nil
	}
	for {
		t.skipSpace()
		if t.pos >= len(t.in) || t.in[t.pos] != '"' {
			return 0, t.fail("invalid %s in object, expected a string key", t.describe())
		}
		m := member{start: len(t.out)}
		var err error
		m.keyStart, m.keyEnd, err = t.str()
		if err != nil {
			return 0, err
		}

		t.skipSpace()
		if t.pos >= len(t.in) || t.in[t.pos] != ':' {
			return 0, t.fail("invalid %s after object key, expected ':'", t.describe())
		}
		t.pos++

		valueStart := len(t.out)
		if err := t.value(depth + 1); err != nil {
			return 0, err
		}
		m.end = len(t.out)

		keep := true
		if hook != nil {
			strStart, strEnd := -1, -1
			if isStr(t.out[valueStart]) {
				strStart, strEnd = stringPayload(t.out, valueStart), m.end
			}
			keep = hook(t.out[m.keyStart:m.keyEnd], strStart, strEnd)
		}
		if !keep {
			t.out = t.out[:m.start]
		} else if t.addMember(base, m, &keys) {
			dropped++
		}

		t.skipSpace()
		if t.pos >= len(t.in) {
			return 0, t.fail("unexpected end of input in object, expected ',' or '}'")
		}
		if t.in[t.pos] == '}' {
			t.pos++
			break
		}
		if t.in[t.pos] != ',' {
			return 0, t.fail("invalid %s in object, expected ',' or '}'", t.describe())
		}
		t.pos++
	}

	if dropped > 0 {
		t.removeDropped(base)
	}
	count := len(t.members) - base - dropped
	return t.finishContainer(headerAt, hook == nil, mpFixMap, count), nil
}

// keySet finds the keys of one object seen so far. A 64-bit filter of key hashes rules out
// most new keys without comparing bytes, and objects with many members switch to a map.
type keySet struct {
	filter uint64
	index  map[string]int // key to member index, only for large objects
}

func keyBit(key []byte) uint64 {
	if len(key) == 0 {
		return 1
	}
	h := uint(len(key))*7 + uint(key[0]) + uint(key[len(key)-1])*3
	return 1 << (h & 63)
}

// addMember records m as a member of the innermost object and reports whether an earlier
// member with the same key was dropped. Msgpack maps with duplicate keys break consumers, so
// the last member with a key wins, as in encoding/json.
func (t *transcoder) addMember(base int, m member, keys *keySet) bool {
	key := t.out[m.keyStart:m.keyEnd]
	dropped := false
	bit := keyBit(key)
	if keys.filter&bit != 0 || keys.index != nil {
		dropped = t.dropEarlier(base, key, keys)
	}
	keys.filter |= bit
	t.members = append(t.members, m)
	return dropped
}

// dropEarlier marks the member of the innermost object whose key is key as dropped, and
// reports whether there was one.
func (t *transcoder) dropEarlier(base int, key []byte, keys *keySet) bool {
	n := len(t.members) - base
	if keys.index == nil && n >= linearKeyLimit {
		keys.index = make(map[string]int, 2*n)
		for i := base; i < len(t.members); i++ {
			if !t.members[i].dropped {
				keys.index[string(t.keyOf(i))] = i
			}
		}
	}
	if keys.index != nil {
		i, ok := keys.index[string(key)]
		keys.index[string(key)] = len(t.members) // the member appended next
		if ok {
			t.members[i].dropped = true
		}
		return ok
	}

	for i := base; i < len(t.members); i++ {
		if !t.members[i].dropped && bytes.Equal(t.keyOf(i), key) {
			t.members[i].dropped = true
			return true
		}
	}
	return false
}

func isStr(code byte) bool {
	return code >= mpFixStr && code <= 0xbf || code >= mpStr8 && code <= mpStr32
}

func (t *transcoder) keyOf(i int) []byte {
	return t.out[t.members[i].keyStart:t.members[i].keyEnd]
}

// removeDropped moves the kept members of the innermost object over the dropped ones.
func (t *transcoder) removeDropped(base int) {
	write := t.members[base].start
	for _, m := range t.members[base:] {
		if m.dropped {
			continue
		}
		write += copy(t.out[write:], t.out[m.start:m.end])
	}
	t.out = t.out[:write]
}

// finishContainer writes the header of the map or array that starts at headerAt, widening the
// one byte reserved there when count needs a longer header, and returns count.
func (t *transcoder) finishContainer(headerAt int, hasHeader bool, fix byte, count int) int {
	if !hasHeader {
		return count
	}
	size := containerHeaderSize(count)
	if size > 1 {
		contentEnd := len(t.out)
		t.out = append(t.out, make([]byte, size-1)...)
		copy(t.out[headerAt+size:], t.out[headerAt+1:contentEnd])
	}
	putContainerHeader(t.out[headerAt:headerAt+size], fix, count)
	return count
}

func (t *transcoder) array(depth int) error {
	t.pos++ // '['
	headerAt := len(t.out)
	t.out = append(t.out, 0)

	count := 0
	t.skipSpace()
	if t.pos < len(t.in) && t.in[t.pos] == ']' {
		t.pos++
		t.finishContainer(headerAt, true, mpFixArray, 0)
		return nil
	}
	for {
		if err := t.value(depth + 1); err != nil {
			return err
		}
		count++

		t.skipSpace()
		if t.pos >= len(t.in) {
			return t.fail("unexpected end of input in array, expected ',' or ']'")
		}
		if t.in[t.pos] == ']' {
			t.pos++
			break
		}
		if t.in[t.pos] != ',' {
			return t.fail("invalid %s in array, expected ',' or ']'", t.describe())
		}
		t.pos++
	}
	t.finishContainer(headerAt, true, mpFixArray, count)
	return nil
}

// number transcodes the JSON number at the current position. An integer (no fraction, no
// exponent) that fits int64 or uint64 becomes a msgpack int. Every other number, 1.0 and
// integers beyond uint64 included, becomes a float64 rounded to nearest. A number beyond the
// float64 range, such as 1e400, has no float64 value and is kept as a str of its JSON text.
func (t *transcoder) number() error {
	start := t.pos
	negative := false
	if t.in[t.pos] == '-' {
		negative = true
		t.pos++
	}

	digitsStart := t.pos
	if t.pos < len(t.in) && t.in[t.pos] == '0' {
		t.pos++
	} else {
		for t.pos < len(t.in) && t.in[t.pos] >= '0' && t.in[t.pos] <= '9' {
			t.pos++
		}
	}
	if t.pos == digitsStart {
		return t.fail("invalid %s in number, expected a digit", t.describe())
	}
	intEnd := t.pos

	integral := true
	if t.pos < len(t.in) && t.in[t.pos] == '.' {
		integral = false
		t.pos++
		if !t.digits() {
			return t.fail("invalid %s after decimal point, expected a digit", t.describe())
		}
	}
	if t.pos < len(t.in) && (t.in[t.pos] == 'e' || t.in[t.pos] == 'E') {
		integral = false
		t.pos++
		if t.pos < len(t.in) && (t.in[t.pos] == '+' || t.in[t.pos] == '-') {
			t.pos++
		}
		if !t.digits() {
			return t.fail("invalid %s in exponent, expected a digit", t.describe())
		}
	}

	if integral {
		if v, ok := parseUint(t.in[digitsStart:intEnd]); ok {
			switch {
			case !negative:
				t.out = appendUint(t.out, v)
				return nil
			case v == 0:
				t.out = append(t.out, 0) // -0 as an integer is 0
				return nil
			case v <= 1<<63:
				t.out = appendNegInt(t.out, int64(-v))
				return nil
			}
		}
	}

	text := t.in[start:t.pos]
	// ParseFloat does not keep its argument except in the error, which is discarded, so the
	// string can share the input's bytes.
	f, err := strconv.ParseFloat(unsafe.String(&text[0], len(text)), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		// Unreachable for text that passed the grammar check above.
		return t.fail("invalid number %q", text)
	}
	if math.IsInf(f, 0) {
		t.out = appendStrBytes(t.out, text)
		return nil
	}
	t.out = appendFloat64(t.out, f)
	return nil
}

func (t *transcoder) digits() bool {
	start := t.pos
	for t.pos < len(t.in) && t.in[t.pos] >= '0' && t.in[t.pos] <= '9' {
		t.pos++
	}
	return t.pos > start
}

// parseUint parses decimal digits and reports false when they overflow uint64.
func parseUint(digits []byte) (uint64, bool) {
	if len(digits) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range digits {
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
